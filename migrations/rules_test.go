package migrations_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state string
	err = conn.QueryRow(ctx, `SELECT concat_ws(E'\n',
		(SELECT jsonb_agg(q ORDER BY symbol)::text FROM quotes q),
		(SELECT jsonb_agg(p ORDER BY symbol, ts)::text FROM price_ticks p),
		(SELECT jsonb_agg(g ORDER BY id)::text FROM games g),
		(SELECT jsonb_agg(s ORDER BY id)::text FROM scores s),
		(SELECT jsonb_agg(e ORDER BY id)::text FROM events e),
		(SELECT jsonb_agg(p)::text FROM events_pruned p))`).Scan(&state)
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
INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'Brunson');
INSERT INTO scores (game_id, team, points) VALUES (2, 'away', 1);
UPDATE games SET status = 'final' WHERE id = 2;
`); err != nil {
		t.Fatalf("seeding through psql: %v\n%s", err, out)
	}

	long := strings.Repeat("x", 65)
	rules := []struct {
		rule, constraint, sql string
	}{
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
		// A good change and a bad one in one transaction: the good one is undone too.
		{"bad play in a transaction", "scores_points_range", `BEGIN;
INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 2);
UPDATE quotes SET price = 41 WHERE symbol = 'ACME';
INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 12);
COMMIT;`},
	}
	for _, r := range rules {
		t.Run(r.rule, func(t *testing.T) {
			before := boardState(t, dbURL)
			out, err := psql(t, dbURL, r.sql)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("psql exited with %v, want status 3 (stopped on an error); output:\n%s", err, out)
			}
			if !strings.Contains(out, "ERROR:") || !strings.Contains(out, r.constraint) {
				t.Fatalf("psql output does not name %s:\n%s", r.constraint, out)
			}
			if after := boardState(t, dbURL); after != before {
				t.Fatalf("the refused change changed the board:\n%s", firstDifference(before, after))
			}
		})
	}

	// The rules refuse only what is wrong: the same statements, put right, go through
	// and reach the event log.
	before := boardState(t, dbURL)
	if out, err := psql(t, dbURL, `
INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'away', 10, '`+long[:64]+`');
UPDATE quotes SET price = 0.0001, name = repeat('n', 100) WHERE symbol = 'ACME';
INSERT INTO games (league, home_team, away_team) VALUES ('MLB', 'Mets', 'Yankees');
UPDATE games SET status = 'final' WHERE id = 1;
`); err != nil {
		t.Fatalf("valid changes refused: %v\n%s", err, out)
	}
	if boardState(t, dbURL) == before {
		t.Fatal("valid changes left the board as it was")
	}
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
