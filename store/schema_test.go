package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

func TestMigrationsUpDownUp(t *testing.T) {
	st, _ := testdb.Open(t)
	ctx := context.Background()
	type step struct {
		dir  string
		want uint
	}
	latest := latestVersion(t)
	var steps []step
	for v := int(latest) - 1; v >= 0; v-- {
		steps = append(steps, step{"down", uint(v)})
	}
	steps = append(steps, step{"up", latest}, step{"down", latest - 1}, step{"up", latest},
		step{"down-all", 0}, step{"up", latest}, step{"up", latest})
	for _, step := range steps {
		v, err := st.Migrate(step.dir)
		if err != nil {
			t.Fatalf("migrate %s: %v", step.dir, err)
		}
		if v != step.want {
			t.Fatalf("after migrate %s: version %d, want %d", step.dir, v, step.want)
		}
	}
	// The schema works after the round trip.
	if _, err := st.Pool().Exec(ctx, `INSERT INTO quotes (symbol, price) VALUES ('AAPL', 1)`); err != nil {
		t.Fatal(err)
	}
	v, dirty, err := st.SchemaVersion()
	if err != nil || v != latest || dirty {
		t.Fatalf("SchemaVersion = %d, %t, %v; want %d, false, nil", v, dirty, err, latest)
	}
}

// 000002's down migration gives back 000001's capture: no function runs with its
// owner's rights or a fixed setting, no new trigger or CHECK is left behind.
func TestMigrationDownRestores000001(t *testing.T) {
	st, url := testdb.Open(t)
	migrateDownTo(t, st, 1)
	var left string
	err := st.Pool().QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT string_agg(proname, ',') FROM pg_proc
		 WHERE pronamespace = current_schema()::regnamespace AND (prosecdef OR proconfig IS NOT NULL)),
		(SELECT string_agg(conname, ',') FROM pg_constraint WHERE conname LIKE '%\_finite'
		 OR conname IN ('events_name_format', 'events_key_format', 'events_created_at_finite', 'events_payload_size')),
		(SELECT string_agg(tgname, ',') FROM pg_trigger
		 WHERE tgname IN ('events_capture_only', 'scores_truncated', 'scores_emit_update', 'scores_tally_update', 'scores_check_update')))`).Scan(&left)
	if err != nil {
		t.Fatal(err)
	}
	if left != "" {
		t.Fatalf("left after migrating down: %s", left)
	}
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 1); INSERT INTO events (event, payload) VALUES ('note', '{}')`)
	if got := oldLog(t, st); len(got) != 2 || got[0].Name != "note" || got[1].Name != "price" {
		t.Fatalf("log under 000001 after migrating down: %v", got)
	}
}

// A database from before 000002 migrates forward: rows the log can never deliver and
// NaN quotes are removed (the quote with a deleted event), and afterwards ids continue
// above everything, even the far-ahead row 000001 let anyone write.
func TestMigrationForwardDropsUndeliverableRows(t *testing.T) {
	st, url := testdb.Open(t)
	migrateDownTo(t, st, 1)
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('GOOD', 10), ('BAD', 'NaN');
		INSERT INTO events (event, key, payload) VALUES
			(E'evil\nname', '', '{}'),
			('note', E'a\rb', '{}'),
			('note', '', jsonb_build_object('text', repeat('x', 20000)));
		INSERT INTO events (event, key, payload, created_at) VALUES ('note', '', '{}', 'infinity');
		INSERT INTO events (id, event, key, payload) VALUES (5000000, 'note', 'far', '{}');`)
	if v, err := st.Migrate("up"); err != nil || v != latestVersion(t) {
		t.Fatalf("migrate up to the latest: %d, %v", v, err)
	}
	got := events(t, st, 0)
	var names []string
	for _, e := range got {
		names = append(names, e.Name+"/"+e.Key)
	}
	want := []string{"price/GOOD", "price/BAD", "note/far", "price/BAD"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("log after migrating forward: %q, want %q", names, want)
	}
	if gone := got[3]; gone.ID != 5000001 || gone.Row["deleted"] != true {
		t.Errorf("the NaN quote's removal is %d %v, want id 5000001, deleted", gone.ID, gone.Row)
	}
	testdb.Exec(t, url, `UPDATE quotes SET price = 11 WHERE symbol = 'GOOD'`)
	if got := events(t, st, 5000001); len(got) != 1 || got[0].ID != 5000002 {
		t.Errorf("next change after migrating: %v, want id 5000002", got)
	}
}

// migrateDownTo takes st's schema from the latest version back to version, one
// migration at a time.
func migrateDownTo(t *testing.T, st *store.Store, version uint) {
	t.Helper()
	for want := latestVersion(t); want > version; {
		want--
		if v, err := st.Migrate("down"); err != nil || v != want {
			t.Fatalf("migrate down to %d: %d, %v", want, v, err)
		}
	}
}

// latestVersion is the newest embedded migration's version.
func latestVersion(t *testing.T) uint {
	t.Helper()
	vs, err := store.MigrationVersions()
	if err != nil || len(vs) == 0 {
		t.Fatalf("MigrationVersions = %v, %v", vs, err)
	}
	return vs[len(vs)-1]
}

// 000003's down migration gives back 000002: no market table, `market` an ordinary
// event name again, and tickerboard_emit still its owner's, with its search_path pinned.
func TestMigrationDownRestores000002(t *testing.T) {
	st, url := testdb.Open(t)
	migrateDownTo(t, st, 2)
	var left string
	err := st.Pool().QueryRow(context.Background(), `SELECT concat_ws(' ',
		to_regclass('market')::text,
		(SELECT string_agg(proname, ',') FROM pg_proc
		 WHERE pronamespace = current_schema()::regnamespace AND proname LIKE 'market%'),
		(SELECT 'tickerboard_emit not definer' FROM pg_proc
		 WHERE proname = 'tickerboard_emit' AND NOT (prosecdef AND proconfig IS NOT NULL)))`).Scan(&left)
	if err != nil {
		t.Fatal(err)
	}
	if left != "" {
		t.Fatalf("left after migrating down: %s", left)
	}
	testdb.Exec(t, url, `SELECT tickerboard_emit('market', '', '{}')`)
	if got := oldLog(t, st); len(got) != 1 || got[0].Name != "market" {
		t.Fatalf("log under 000002 after emitting market: %v", got)
	}
}

// events returns the log after id, decoded.
func events(t *testing.T, st *store.Store, after int64) []decoded {
	t.Helper()
	evs, err := st.EventsAfter(context.Background(), after, 1<<62, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]decoded, len(evs))
	for i, e := range evs {
		out[i] = decoded{Event: e}
		if err := json.Unmarshal(e.Payload, &out[i].Row); err != nil {
			t.Fatalf("event %d payload %s: %v", e.ID, e.Payload, err)
		}
	}
	return out
}

// oldLog reads the whole log of a schema migrated down, which the app (always at the
// newest migration) does not read: the columns every version has.
func oldLog(t *testing.T, st *store.Store) []store.Event {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `SELECT id, event, key, payload, created_at FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, pgx.RowToStructByName[store.Event])
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

type decoded struct {
	store.Event
	Row map[string]any
}

func lastID(evs []decoded) int64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}

// Every way a psql user changes the board leaves the right event in the log.
func TestTriggersEmitEvents(t *testing.T) {
	st, url := testdb.Open(t)
	var after int64

	type want struct {
		name, key string
		fields    map[string]any
	}
	step := func(sql string, wants ...want) {
		t.Helper()
		testdb.Exec(t, url, sql)
		got := events(t, st, after)
		if len(got) != len(wants) {
			t.Fatalf("%s: got %d events %v, want %d", sql, len(got), got, len(wants))
		}
		for i, w := range wants {
			g := got[i]
			if g.Name != w.name || g.Key != w.key {
				t.Errorf("%s: event %d is %s/%s, want %s/%s", sql, i, g.Name, g.Key, w.name, w.key)
			}
			for k, v := range w.fields {
				if g.Row[k] != v {
					t.Errorf("%s: event %d (%s) %s = %v, want %v; row %v", sql, i, g.Name, k, g.Row[k], v, g.Row)
				}
			}
		}
		after = lastID(got)
	}

	step(`INSERT INTO quotes (symbol, name, price) VALUES ('AAPL', 'Apple', 200)`,
		want{"price", "AAPL", map[string]any{"symbol": "AAPL", "price": 200.0, "prev_close": 200.0, "change": 0.0}})
	step(`UPDATE quotes SET price = 210 WHERE symbol = 'AAPL'`,
		want{"price", "AAPL", map[string]any{"price": 210.0, "change": 10.0, "change_pct": 5.0, "day_high": 210.0, "day_low": 200.0}})
	step(`INSERT INTO games (league, home_team, away_team) VALUES ('NBA', 'Lakers', 'Celtics')`,
		want{"score", "1", map[string]any{"id": 1.0, "home_team": "Lakers", "status": "scheduled", "home_score": 0.0}})
	step(`INSERT INTO scores (game_id, team, points, scorer) VALUES (1, 'home', 3, 'James')`,
		want{"play", "1", map[string]any{"game_id": 1.0, "team": "home", "points": 3.0, "scorer": "James", "period": 1.0}},
		want{"score", "1", map[string]any{"home_score": 3.0, "away_score": 0.0, "status": "live"}})
	step(`UPDATE games SET away_score = 10 WHERE id = 1`,
		want{"score", "1", map[string]any{"home_score": 3.0, "away_score": 10.0}})
	step(`DELETE FROM games WHERE id = 1`, // its plays go with it (ON DELETE CASCADE)
		want{"score", "1", map[string]any{"id": 1.0, "deleted": true}},
		want{"play", "1", map[string]any{"game_id": 1.0, "deleted": true}})
	step(`DELETE FROM quotes WHERE symbol = 'AAPL'`,
		want{"price", "AAPL", map[string]any{"symbol": "AAPL", "deleted": true}})
	step(`TRUNCATE quotes CASCADE`,
		want{"reset", "quotes", map[string]any{"reason": "truncate"}})
}

// A rolled-back change leaves no event, and a transaction's events arrive together.
func TestRolledBackChangesEmitNothing(t *testing.T) {
	st, url := testdb.Open(t)
	testdb.Exec(t, url, `INSERT INTO quotes (symbol, price) VALUES ('MSFT', 100)`)
	before := lastID(events(t, st, 0))
	err := testdb.ExecErr(url, `BEGIN; UPDATE quotes SET price = 1 WHERE symbol = 'MSFT'; SELECT 1/0; COMMIT;`)
	if err == nil {
		t.Fatal("division by zero committed")
	}
	if got := events(t, st, before); len(got) != 0 {
		t.Fatalf("rolled back update left events: %v", got)
	}
}

// Bad input is refused with a constraint a user can read, and changes nothing.
func TestConstraintsNameTheRule(t *testing.T) {
	st, url := testdb.Open(t)
	testdb.Exec(t, url, `INSERT INTO games (league, home_team, away_team) VALUES ('NHL', 'Oilers', 'Flames');
		INSERT INTO quotes (symbol, price) VALUES ('IBM', 150)`)
	gameID := int64(1)
	head := lastID(events(t, st, 0))
	cases := []struct{ sql, constraint string }{
		{`INSERT INTO scores (game_id, team, points) VALUES (1, 'home', -2)`, "scores_points_range"},
		{`INSERT INTO scores (game_id, team, points) VALUES (1, 'home', 11)`, "scores_points_range"},
		{`INSERT INTO scores (game_id, team, points) VALUES (999, 'home', 1)`, "scores_game_exists"},
		{`INSERT INTO scores (game_id, team, points) VALUES (1, 'visitors', 1)`, "scores_team_valid"},
		{`INSERT INTO quotes (symbol, price) VALUES ('bad sym', 10)`, "quotes_symbol_format"},
		{`INSERT INTO quotes (symbol, price) VALUES ('NEG', -5)`, "quotes_price_positive"},
		{`UPDATE quotes SET price = 0 WHERE symbol = 'IBM'`, "quotes_price_positive"},
		{`UPDATE games SET status = 'halftime' WHERE id = 1`, "games_status_valid"},
		{`INSERT INTO games (league, home_team, away_team) VALUES ('NHL', 'Oilers', 'Oilers')`, "games_teams_differ"},
		{`UPDATE games SET home_score = -1 WHERE id = 1`, "games_home_score_nonnegative"},
	}
	for _, c := range cases {
		assertConstraint(t, testdb.ExecErr(url, c.sql), c.sql, c.constraint)
	}
	testdb.Exec(t, url, `UPDATE games SET status = 'final' WHERE id = 1`)
	head = lastID(events(t, st, 0))
	assertConstraint(t, testdb.ExecErr(url, `UPDATE games SET status = 'live' WHERE id = 1`), "final → live", "games_status_forward")
	assertConstraint(t, testdb.ExecErr(url, `INSERT INTO scores (game_id, team, points) VALUES (1, 'away', 1)`), "score on final", "scores_game_not_final")
	if got := events(t, st, head); len(got) != 0 {
		t.Fatalf("refused changes left events: %v", got)
	}
	var home, away int
	var status string
	if err := st.Pool().QueryRow(context.Background(), `SELECT home_score, away_score, status FROM games WHERE id = $1`, gameID).Scan(&home, &away, &status); err != nil {
		t.Fatal(err)
	}
	if home != 0 || away != 0 || status != "final" {
		t.Fatalf("game after refused changes: %d-%d %s, want 0-0 final", home, away, status)
	}
}

func assertConstraint(t *testing.T, err error, what, constraint string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Errorf("%s: err = %v, want a Postgres error naming %s", what, err, constraint)
		return
	}
	if pgErr.ConstraintName != constraint {
		t.Errorf("%s: constraint %q (%s), want %q", what, pgErr.ConstraintName, pgErr.Message, constraint)
	}
}
