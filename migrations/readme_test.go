package migrations_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// block is one fenced code block of the README.
type block struct {
	lang string
	line int // of the opening fence
	body string
}

func fencedBlocks(t *testing.T, doc []byte) []block {
	t.Helper()
	var blocks []block
	var cur *block
	var body strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case cur == nil && fence:
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "```")), line: n}
			body.Reset()
		case cur != nil && fence:
			cur.body = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: code block never closed", cur.line)
	}
	return blocks
}

// prompt is psql's, at the start of a statement in a transcript.
var prompt = regexp.MustCompile(`^\w+=[#>] `)

// Every ```sql block of the README runs, in order, on a freshly migrated database in
// one session, as a reader pasting them into psql would; every psql transcript (a
// ```text block of prompts) fails exactly as it shows.
func TestREADMESQL(t *testing.T) {
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, u := testdb.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	var sqlBlocks, transcripts int
	for _, b := range fencedBlocks(t, doc) {
		switch {
		case b.lang == "sql":
			sqlBlocks++
			if _, err := conn.Exec(ctx, b.body); err != nil { // no arguments: the simple protocol, like psql
				t.Fatalf("README.md:%d: sql block failed: %v\n%s", b.line, err, b.body)
			}
		case b.lang == "text" && prompt.MatchString(b.body):
			transcripts++
			checkTranscript(ctx, t, conn, b)
		}
	}
	if sqlBlocks < 5 || transcripts < 1 {
		t.Fatalf("found %d sql blocks and %d psql transcripts in README.md; the SQL section is missing", sqlBlocks, transcripts)
	}

	// The blocks did what the README says they do.
	var home, away int
	var status string
	if err := conn.QueryRow(ctx, `SELECT home_score, away_score, status FROM games WHERE league = 'Curling'`).Scan(&home, &away, &status); err != nil {
		t.Fatal(err)
	}
	if home != 2 || away != 0 || status != "final" {
		t.Errorf("the README's curling game ended %d-%d %s, want 2-0 final", home, away, status)
	}
	var change, pct float64
	if err := conn.QueryRow(ctx, `SELECT (j->>'change')::float8, (j->>'change_pct')::float8
		FROM quotes q, quote_json(q) j WHERE symbol = 'ACME'`).Scan(&change, &pct); err != nil {
		t.Fatal(err)
	}
	if change != 2.10 || pct != 5.00 {
		t.Errorf("ACME changed %v (%v%%), want +2.10 (+5.00%%) as the README says", change, pct)
	}
}

// checkTranscript runs each statement of a psql transcript and compares the error with
// the ERROR, DETAIL, HINT and CONTEXT lines shown after it. A "…" in a shown line stands
// for anything (a timestamp, say).
func checkTranscript(ctx context.Context, t *testing.T, conn *pgx.Conn, b block) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(b.body, "\n"), "\n")
	for i := 0; i < len(lines); {
		stmt := prompt.ReplaceAllString(lines[i], "")
		at := b.line + 1 + i
		want := map[string]string{}
		for i++; i < len(lines) && !prompt.MatchString(lines[i]); i++ {
			field, text, ok := strings.Cut(lines[i], ":  ")
			if !ok {
				t.Fatalf("README.md:%d: %q is neither a prompt nor a psql ERROR/DETAIL/HINT/CONTEXT line", b.line+1+i, lines[i])
			}
			want[field] = text
		}
		_, err := conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Errorf("README.md:%d: %s\n  gave %v, want the error shown", at, stmt, err)
			continue
		}
		got := map[string]string{"ERROR": pgErr.Message, "DETAIL": pgErr.Detail, "HINT": pgErr.Hint, "CONTEXT": pgErr.Where}
		if want["ERROR"] == "" {
			t.Errorf("README.md:%d: no ERROR line shown for %s", at, stmt)
		}
		for field, w := range want {
			g, known := got[field]
			if !known {
				t.Errorf("README.md:%d: unknown psql line %s", at, field)
			}
			if !elided(w, g) {
				t.Errorf("README.md:%d: %s:\n  psql says  %s\n  README has %s", at, field, g, w)
			}
		}
	}
}

// elided reports whether got matches shown, where each "…" in shown stands for anything.
func elided(shown, got string) bool {
	parts := strings.Split(shown, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^(?s)` + strings.Join(parts, ".*") + `$`).MatchString(got)
}
