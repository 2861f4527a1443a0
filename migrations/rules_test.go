package migrations_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// psql runs sql through the real psql client, fed on standard input as a user typing
// it would, stopping at the first error. It returns everything psql printed.
func psql(t *testing.T, dbURL, sql string) (output string, err error) {
	t.Helper()
	bin, lookErr := exec.LookPath("psql")
	if lookErr != nil {
		testdb.Require(t, "psql (PostgreSQL's command-line client) not found: %v", lookErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -X: no ~/.psqlrc; ON_ERROR_STOP: end at the first error with exit status 3.
	cmd := exec.CommandContext(ctx, bin, "-X", "-v", "ON_ERROR_STOP=1", "-d", dbURL)
	cmd.Stdin = strings.NewReader(sql)
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "PGCONNECT_TIMEOUT=10")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// boardState is every table of the schema, the event log included, as one string, so
// a test can tell whether a statement changed anything at all. (Sequences are left
// out: Postgres never gives back a number a failed INSERT took, and nobody sees it.)
func boardState(t *testing.T, dbURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := testdb.Conn(t, dbURL, "")
	defer conn.Close(ctx)
	var state string
	err := conn.QueryRow(ctx, `SELECT concat_ws(E'\n',
		(SELECT jsonb_agg(q ORDER BY symbol)::text FROM quotes q),
		(SELECT jsonb_agg(p ORDER BY symbol, ts)::text FROM price_ticks p),
		(SELECT jsonb_agg(g ORDER BY id)::text FROM games g),
		(SELECT jsonb_agg(s ORDER BY id)::text FROM scores s),
		(SELECT jsonb_agg(e ORDER BY id)::text FROM events e),
		(SELECT jsonb_agg(p)::text FROM events_pruned p),
		(SELECT jsonb_agg(m)::text FROM market m))`).Scan(&state)
	if err != nil {
		t.Fatalf("read board state: %v", err)
	}
	return state
}

// Every rule of the schema, broken the way a person at a psql prompt would break it,
// fails with the rule's constraint name in psql's output and changes nothing: not the
// tables, not the event log (so no viewer sees a thing).
func TestSQLRulesThroughPsql(t *testing.T) {
	_, dbURL := testdb.Open(t)
	if out, err := psql(t, dbURL, `
INSERT INTO quotes (symbol, name, price) VALUES ('ACME', 'Acme Corp', 40);
INSERT INTO games (id, league, home_team, away_team) VALUES (1, 'NBA', 'Knicks', 'Nets');
INSERT INTO games (id, league, home_team, away_team) VALUES (2, 'NHL', 'Oilers', 'Flames');
SELECT setval('games_id_seq', 2);
INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'Brunson');
INSERT INTO scores (game_id, team, points) VALUES (2, 'away', 1);
UPDATE games SET status = 'final' WHERE id = 2;
`); err != nil {
		t.Fatalf("seeding through psql: %v\n%s", err, out)
	}

	long := strings.Repeat("x", 65)
	tableRules := []struct{ rule, constraint, sql string }{
		{"unknown game", "scores_game_exists",
			`INSERT INTO scores (game_id, team, points) VALUES (999, 'home', 2);`},
		{"points above range", "scores_points_range",
			`INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 11);`},
		{"points below range", "scores_points_range",
			`INSERT INTO scores (game_id, team, points) VALUES (1, 'away', 0);`},
		{"bad team", "scores_team_valid",
			`INSERT INTO scores (game_id, team, points) VALUES (1, 'visitors', 2);`},
		{"bad symbol", "quotes_symbol_format",
			`INSERT INTO quotes (symbol, price) VALUES ('acme', 10);`},
		{"over-long symbol", "quotes_symbol_format",
			`INSERT INTO quotes (symbol, price) VALUES ('ABCDEFGHIJK', 10);`},
		{"renamed to a bad symbol", "quotes_symbol_format",
			`UPDATE quotes SET symbol = 'Acme!' WHERE symbol = 'ACME';`},
		{"negative price", "quotes_price_positive",
			`INSERT INTO quotes (symbol, price) VALUES ('NEG', -5);`},
		{"price updated to zero", "quotes_price_positive",
			`UPDATE quotes SET price = 0 WHERE symbol = 'ACME';`},
		{"negative volume", "quotes_volume_nonnegative",
			`UPDATE quotes SET volume = -1 WHERE symbol = 'ACME';`},
		{"final back to live", "games_status_forward",
			`UPDATE games SET status = 'live' WHERE id = 2;`},
		{"final back to scheduled", "games_status_forward",
			`UPDATE games SET status = 'scheduled' WHERE id = 2;`},
		{"live back to scheduled", "games_status_forward",
			`UPDATE games SET status = 'scheduled' WHERE id = 1;`},
		{"unknown status", "games_status_valid",
			`UPDATE games SET status = 'halftime' WHERE id = 1;`},
		{"score on a final game", "scores_game_not_final",
			`INSERT INTO scores (game_id, team, points) VALUES (2, 'home', 1);`},
		{"duplicate teams", "games_teams_differ",
			`INSERT INTO games (league, home_team, away_team) VALUES ('MLB', 'Mets', 'Mets');`},
		{"teams made equal", "games_teams_differ",
			`UPDATE games SET away_team = home_team WHERE id = 1;`},
		{"over-long home team", "games_home_team_length",
			`INSERT INTO games (league, home_team, away_team) VALUES ('MLB', '` + long + `', 'Mets');`},
		{"over-long away team", "games_away_team_length",
			`INSERT INTO games (league, home_team, away_team) VALUES ('MLB', 'Mets', '` + long + `');`},
		{"over-long league", "games_league_length",
			`INSERT INTO games (league, home_team, away_team) VALUES ('` + long + `', 'Mets', 'Yankees');`},
		{"empty team", "games_home_team_length",
			`INSERT INTO games (league, home_team, away_team) VALUES ('MLB', '', 'Mets');`},
		{"over-long quote name", "quotes_name_length",
			`UPDATE quotes SET name = repeat('n', 101) WHERE symbol = 'ACME';`},
		{"over-long scorer", "scores_scorer_length",
			`INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 2, '` + long + `');`},
		{"period out of range", "games_period_range",
			`UPDATE games SET period = 21 WHERE id = 1;`},
		{"over-long clock", "games_clock_length",
			`UPDATE games SET clock = '12:00 of the fourth quarter' WHERE id = 1;`},
		{"NaN price", "quotes_price_finite",
			`UPDATE quotes SET price = 'NaN' WHERE symbol = 'ACME';`},
		{"NaN previous close", "quotes_prev_close_finite",
			`INSERT INTO quotes (symbol, price, prev_close) VALUES ('NAN', 1, 'NaN');`},
		{"infinite start time", "games_starts_at_finite",
			`UPDATE games SET starts_at = 'infinity' WHERE id = 1;`},
		{"infinite play time", "scores_created_at_finite",
			`INSERT INTO scores (game_id, team, points, created_at) VALUES (1, 'home', 2, '-infinity');`},
		{"points of a final game's play changed", "scores_game_not_final",
			`UPDATE scores SET points = 5 WHERE game_id = 2;`},
		{"play moved out of a final game", "scores_game_not_final",
			`UPDATE scores SET game_id = 1 WHERE game_id = 2;`},
		{"play moved into a final game", "scores_game_not_final",
			`UPDATE scores SET game_id = 2 WHERE game_id = 1;`},
		{"event name with a newline", "events_name_format",
			`SELECT tickerboard_emit(E'evil\nname', '', '{}');`},
		{"upper-case event name", "events_name_format",
			`SELECT tickerboard_emit('Reset', '', '{}');`},
		{"event name of a table", "events_name_reserved",
			`SELECT tickerboard_emit('price', 'ACME', '{"symbol": "ACME", "price": 1}');`},
		{"unknown market session", "market_session_valid",
			`UPDATE market SET session = 'lunch';`},
		{"infinite market open", "market_opens_at_finite",
			`UPDATE market SET opens_at = 'infinity';`},
		{"event name of the market table", "events_name_reserved",
			`SELECT tickerboard_emit('market', '', '{"session": "open"}');`},
		{"event name of the server", "events_name_reserved",
			`SELECT tickerboard_emit('snapshot', '', '{}');`},
		{"key with a carriage return", "events_key_format",
			`SELECT tickerboard_emit('note', E'a\rb', '{}');`},
		{"over-long key", "events_key_format",
			`SELECT tickerboard_emit('note', repeat('k', 65), '{}');`},
		{"payload over 16 KiB", "events_payload_size",
			`SELECT tickerboard_emit('note', '', jsonb_build_object('text', repeat('x', 16384)));`},
		{"NULL payload", "tickerboard_emit_not_null",
			`SELECT tickerboard_emit('note', '', NULL);`},
		{"emit then a bad play", "scores_points_range", `BEGIN;
SELECT tickerboard_emit('reset', '', '{"reason": "maintenance"}');
INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 12);
COMMIT;`},
	}
	var rules []rule
	for _, r := range tableRules {
		rules = append(rules, rule{rule: r.rule, constraint: r.constraint, sql: r.sql})
	}
	rules = append(rules, []rule{
		{rule: "event written directly", constraint: "events_written_by_capture_only",
			sql:    `INSERT INTO events (event, payload) VALUES ('price', '{"symbol": "ACME"}');`,
			writer: "permission denied for table events"},
		{rule: "event written far ahead", constraint: "events_written_by_capture_only",
			sql:    `INSERT INTO events (id, event, payload) VALUES (1000000000000000, 'note', '{}');`,
			writer: "permission denied for table events"},
		{rule: "event rewritten", constraint: "events_written_by_capture_only",
			sql:    `UPDATE events SET payload = '{}';`,
			writer: "permission denied for table events"},
		{rule: "log deleted", sql: `DELETE FROM events;`, writerOnly: true,
			writer: "permission denied for table events"},
		{rule: "log truncated", sql: `TRUNCATE events;`, writerOnly: true,
			writer: "permission denied for table events"},
		{rule: "pruned mark moved", sql: `UPDATE events_pruned SET through = 0;`, writerOnly: true,
			writer: "permission denied for table events_pruned"},
		{rule: "commit queue written", sql: `INSERT INTO events_commit VALUES (pg_current_xact_id());`, writerOnly: true,
			writer: "permission denied for table events_commit"},
		{rule: "ids set back", sql: `SELECT setval('events_id_seq', 1);`, writerOnly: true,
			writer: "permission denied for sequence events_id_seq"},
		{rule: "sparkline written", sql: `INSERT INTO price_ticks (symbol, price) VALUES ('ACME', 1);`, writerOnly: true,
			writer: "permission denied for table price_ticks"},
		{rule: "staging table of its own", writerOnly: true, writer: "tickerboard_pending_owner", sql: `BEGIN;
CREATE TEMP TABLE tickerboard_pending (seq bigint GENERATED ALWAYS AS IDENTITY, event text, key text, payload jsonb) ON COMMIT DELETE ROWS;
INSERT INTO pg_temp.tickerboard_pending (event, key, payload) VALUES ('price', 'X', '{}');
UPDATE quotes SET price = 41 WHERE symbol = 'ACME';
COMMIT;`},
		{rule: "a second market", constraint: "market_one_row", sql: `INSERT INTO market (id) VALUES (false);`,
			writer: "permission denied for table market"},
		{rule: "market deleted", sql: `DELETE FROM market;`, writerOnly: true,
			writer: "permission denied for table market"},
		// The WAL capture's state is the app's: a writer can neither switch the capture
		// (which turns the capture triggers off), move its position, nor forge an event.
		{rule: "capture switched by hand", sql: `UPDATE capture_mode SET mode = 'wal';`, writerOnly: true,
			writer: "permission denied for table capture_mode"},
		{rule: "capture switched through its function", sql: `SELECT tickerboard_capture_switch('wal');`, writerOnly: true,
			writer: "permission denied for function tickerboard_capture_switch"},
		{rule: "capture position moved", sql: `UPDATE capture_progress SET applied_lsn = '0/0';`, writerOnly: true,
			writer: "permission denied for table capture_progress"},
		{rule: "capture applied by hand", sql: `SELECT tickerboard_capture_apply(NULL, '0/1', 'wal', '[]', '{}', '{}', '{}', '{}', '{}', '{}');`, writerOnly: true,
			writer: "permission denied for function tickerboard_capture_apply"},
		{rule: "capture appended by hand", sql: `SELECT tickerboard_capture_append(NULL, '0/1', 'wal', '[]', '{}', '{}', '{}', '{}', '{}', '{}');`, writerOnly: true,
			writer: "permission denied for function tickerboard_capture_append"},
		{rule: "emitted event forged", sql: `INSERT INTO capture_emit (event, key, payload) VALUES ('price', 'ACME', '{}');`, writerOnly: true,
			writer: "permission denied for table capture_emit"},
		// A good change and a bad one in one transaction: the good one is undone too.
		{rule: "bad play in a transaction", constraint: "scores_points_range", sql: `BEGIN;
INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 2);
UPDATE quotes SET price = 41 WHERE symbol = 'ACME';
INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 12);
COMMIT;`},
	}...)
	writer := writerURL(t, dbURL)
	for _, r := range rules {
		for _, as := range []struct{ role, url, want string }{
			{"postgres", dbURL, r.constraint},
			{"writer", writer, cmp.Or(r.writer, r.constraint)},
		} {
			if r.writerOnly && as.role != "writer" {
				continue
			}
			t.Run(as.role+"/"+r.rule, func(t *testing.T) {
				before := boardState(t, dbURL)
				out, err := psql(t, as.url, r.sql)
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 3 {
					t.Fatalf("psql exited with %v, want status 3 (stopped on an error); output:\n%s", err, out)
				}
				if !strings.Contains(out, "ERROR:") || !strings.Contains(out, as.want) {
					t.Fatalf("psql output does not name %s:\n%s", as.want, out)
				}
				if after := boardState(t, dbURL); after != before {
					t.Fatalf("the refused change changed the board:\n%s", firstDifference(before, after))
				}
			})
		}
	}

	// The rules refuse only what is wrong: the same statements, put right, go through
	// and reach the event log.
	before := boardState(t, dbURL)
	if out, err := psql(t, dbURL, `
INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'away', 10, '`+long[:64]+`');
UPDATE quotes SET price = 0.0001, name = repeat('n', 100) WHERE symbol = 'ACME';
INSERT INTO games (league, home_team, away_team) VALUES ('MLB', 'Mets', 'Yankees');
UPDATE games SET status = 'final' WHERE id = 1;
UPDATE market SET session = 'pre-open';
`); err != nil {
		t.Fatalf("valid changes refused: %v\n%s", err, out)
	}
	if boardState(t, dbURL) == before {
		t.Fatal("valid changes left the board as it was")
	}
}

// rule is a statement that breaks a rule of the schema. Each is broken twice: as the
// superuser the README's examples used to use, and as tickerboard_writer. writer, when
// set, is what the writer is told instead (it has no rights on the log at all);
// writerOnly rules concern only the writer.
type rule struct {
	rule, constraint, sql string
	writer                string
	writerOnly            bool
}

// firstDifference shows the first table line where two board states differ.
func firstDifference(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return "before: " + b[i] + "\nafter:  " + a[i]
		}
	}
	return "before: " + before + "\nafter:  " + after
}

// writerURL is dbURL as the role tickerboard_writer, which logs in without a password
// where the server trusts local connections (as the test server does).
func writerURL(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse %q: %v", dbURL, err)
	}
	u.User = url.User("tickerboard_writer")
	return u.String()
}

// The log's own CHECK on event names (events_name_format) takes exactly the names the
// rule says — a letter a-z, then up to 31 of a-z, 0-9, _ and - — whatever writes the
// row: here the owner, past the capture-only guard. (000010 wrote the rule in a form
// Postgres checks faster; the original regular expression is the reference.)
func TestEventNameRuleAtTheLog(t *testing.T) {
	_, dbURL := testdb.Open(t)
	ctx := context.Background()
	conn := testdb.Conn(t, dbURL, "")
	if _, err := conn.Exec(ctx, `ALTER TABLE events DISABLE TRIGGER events_capture_only`); err != nil {
		t.Fatal(err)
	}
	names := []string{"a", "z", "note", "a-b_c9", "a" + strings.Repeat("x", 31), "a" + strings.Repeat("x", 32),
		"", "A", "9a", "-a", "_a", "aB", "a b", "a\n", "\na", "é", "aé", "a.b", "a" + strings.Repeat("-", 31),
		strings.Repeat("é", 10), "a\u2028", "a" + strings.Repeat("9", 40)}
	for _, name := range names {
		var want bool
		if err := conn.QueryRow(ctx, `SELECT $1 ~ '^[a-z][a-z0-9_-]{0,31}$'`, name).Scan(&want); err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO events (event, key, payload) VALUES ($1, '', '{}')`, name)
		tx.Rollback(ctx)
		var pgErr *pgconn.PgError
		refused := errors.As(err, &pgErr) && pgErr.ConstraintName == "events_name_format"
		if err != nil && !refused {
			t.Fatalf("insert %q: %v", name, err)
		}
		if refused == want {
			t.Errorf("event name %q: refused %v, want refused %v", name, refused, !want)
		}
	}
}
