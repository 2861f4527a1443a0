package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

// stream opens /events and returns a reader of what a browser would see.
func stream(t *testing.T, base, query string) (*sse.Reader, func()) {
	t.Helper()
	resp, err := http.Get(base + "/events" + query)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %s", resp.Status)
	}
	return sse.NewReader(resp.Body), func() { resp.Body.Close() }
}

// nextNamed reads events until one called name arrives.
func nextNamed(t *testing.T, r *sse.Reader, name string) sse.Event {
	t.Helper()
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("waiting for %q: %v", name, err)
		}
		if ev.Name == name {
			return ev
		}
	}
}

// The core promise: a score typed into psql reaches a viewer, through the whole
// binary (migrations, trigger, notifier, hub, SSE).
func TestRunStreamsAScoreInsertedWithSQL(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dbURL := testdb.URL(t) // empty: run migrates it
	srv := startServer(t, dbURL, "127.0.0.1:0")
	r, closeStream := stream(t, srv.URL, "")
	defer closeStream()
	nextNamed(t, r, "snapshot")

	testdb.Exec(t, dbURL, `INSERT INTO games (league, home_team, away_team, status) VALUES ('NBA', 'Knicks', 'Nets', 'live')`)
	testdb.Exec(t, dbURL, `INSERT INTO scores (game_id, team, points) VALUES ((SELECT max(id) FROM games), 'home', 3)`)
	var game struct {
		HomeTeam  string `json:"home_team"`
		HomeScore int    `json:"home_score"`
	}
	for game.HomeScore != 3 {
		ev := nextNamed(t, r, "score")
		if err := json.Unmarshal([]byte(ev.Data), &game); err != nil {
			t.Fatal(err)
		}
		if ev.ID == "" {
			t.Fatal("score event without id")
		}
	}
	if game.HomeTeam != "Knicks" {
		t.Fatalf("score for %q", game.HomeTeam)
	}
	closeStream()
	srv.Stop()
}

// SIGTERM (ctx cancel) with streams open: each stream gets a last comment and ends,
// run returns promptly, and nothing it started is left running.
func TestRunShutsDownWithOpenStreams(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dbURL := testdb.URL(t)
	srv := startServer(t, dbURL, "127.0.0.1:0")
	readers := make([]*sse.Reader, 20)
	for i := range readers {
		r, closeStream := stream(t, srv.URL, "")
		defer closeStream()
		nextNamed(t, r, "snapshot")
		readers[i] = r
	}
	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	for i, r := range readers {
		for {
			if _, err := r.Next(); err != nil {
				break // the stream ended
			}
		}
		if r.Comments() == 0 {
			t.Errorf("stream %d ended without the shutdown comment", i)
		}
	}
	<-stopped
}

func TestRunCreatesAMissingDatabase(t *testing.T) {
	dbURL := testdb.URL(t)
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	testdb.Exec(t, admin.String(), "DROP DATABASE "+pgx.Identifier{name}.Sanitize())
	startServer(t, dbURL, "127.0.0.1:0").Stop()
	testdb.Exec(t, dbURL, `SELECT 1 FROM quotes`) // exists, migrated
}

func TestMigrateCommand(t *testing.T) {
	dbURL := testdb.URL(t)
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	for _, step := range []struct{ cmd, want string }{
		{"version", "version 0 (dirty: false)"},
		{"up", "now at version 11"},
		{"version", "version 11 (dirty: false)"},
		{"down", "now at version 10"},
		{"up", "now at version 11"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"migrate", step.cmd}, env, &out, &errOut); err != nil {
			t.Fatalf("migrate %s: %v %s", step.cmd, err, errOut.String())
		}
		if !strings.Contains(out.String(), step.want) {
			t.Fatalf("migrate %s printed %q, want %q", step.cmd, out.String(), step.want)
		}
	}
	err := run(context.Background(), []string{"migrate", "sideways"}, env, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `unknown command "sideways"`) {
		t.Fatalf("migrate sideways: %v", err)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	srv := startServer(t, testdb.URL(t), "127.0.0.1:0")
	_, port, _ := strings.Cut(srv.Addr, ":")
	env := func(k string) string {
		if k == "TICKERBOARD_ADDR" {
			return "0.0.0.0:" + port // as in a container: dialled as 127.0.0.1
		}
		return ""
	}
	if err := run(context.Background(), []string{"healthcheck"}, env, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("healthcheck of a ready server: %v", err)
	}
	srv.Stop()
	if err := run(context.Background(), []string{"healthcheck"}, env, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Fatal("healthcheck of a stopped server passed")
	}
}

func TestConfigErrorsSayWhatIsWrong(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-feeds", "weather"}, nil, `unknown feed "weather"`},
		{[]string{"-retention", "10s"}, nil, "must be at least 1m"},
		{nil, map[string]string{"TICKERBOARD_RETENTION": "forever"}, "TICKERBOARD_RETENTION"},
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"-cors-origins", "*"}, nil, "no wildcards"},
		{nil, map[string]string{"TICKERBOARD_CORS_ORIGINS": "https://ok.example, example.com"}, `"example.com" is not an origin`},
		{nil, map[string]string{"TICKERBOARD_MAX_STREAMS": "lots"}, "TICKERBOARD_MAX_STREAMS"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, c.args, func(k string) string { return c.env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%v, %v) = %v, want an error containing %q", c.args, c.env, err, c.want)
		}
	}
}

func TestConfigFlagsOverrideEnv(t *testing.T) {
	env := map[string]string{"TICKERBOARD_ADDR": "127.0.0.1:1", "TICKERBOARD_FEEDS": "prices", "TICKERBOARD_RETENTION": "2h"}
	c, err := parseConfig([]string{"-addr", "127.0.0.1:2"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:2" || c.retention != 2*time.Hour || !c.feedOpts.Prices || c.feedOpts.Scores {
		t.Fatalf("config %+v", c)
	}
	c, err = parseConfig(nil, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:8080" || c.databaseURL != "postgres://postgres@127.0.0.1:5432/tickerboard?sslmode=disable" ||
		!c.feedOpts.Prices || !c.feedOpts.Scores || c.retention != time.Hour {
		t.Fatalf("defaults %+v", c)
	}
}
