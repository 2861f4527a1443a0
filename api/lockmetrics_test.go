package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"testing"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
	"github.com/tickerboard/tickerboard/store"
)

// A session that took the ordering lock by hand shows in /metrics with its pid and
// application, and a writer waiting behind it is counted.
func TestMetricsShowWhoHoldsTheOrderingLock(t *testing.T) {
	st, dbURL := testdb.Open(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := testserver.Start(t, st, dbURL, testserver.Options{Deps: func(d *api.Deps) {
		d.Gauges.Locks = store.NewLockWatch(st, logger).Holders
	}})
	ctx := context.Background()
	psql := testdb.Conn(t, dbURL, "psql")

	if _, body := doAll(t, srv.URL+"/metrics"); !regexp.MustCompile(`(?m)^tickerboard_lock_waiters\{lock="ordering"\} 0$`).MatchString(body) ||
		regexp.MustCompile(`tickerboard_lock_held_seconds\{lock="ordering"`).MatchString(body) {
		t.Fatalf("idle: %s", grepLines(body, "tickerboard_lock"))
	}
	if _, err := psql.Exec(ctx, "SELECT pg_advisory_lock($1)", store.OrderingLockKey); err != nil {
		t.Fatal(err)
	}
	held := regexp.MustCompile(fmt.Sprintf(`(?m)^tickerboard_lock_held_seconds\{application="psql",lock="ordering",pid="%d"\} [0-9.e+-]+$`, psql.PgConn().PID()))
	if _, body := doAll(t, srv.URL+"/metrics"); !held.MatchString(body) {
		t.Fatalf("held by hand: %s", grepLines(body, "tickerboard_lock"))
	}
	if _, err := psql.Exec(ctx, "SELECT pg_advisory_unlock($1)", store.OrderingLockKey); err != nil {
		t.Fatal(err)
	}
	if _, body := doAll(t, srv.URL+"/metrics"); held.MatchString(body) {
		t.Fatalf("released, still shown: %s", grepLines(body, "tickerboard_lock"))
	}
}

func grepLines(body, prefix string) []string {
	return regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(prefix)+`.*$`).FindAllString(body, -1)
}
