package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

// Ids follow commit order, not the order changes were made: a transaction that
// changed a quote first but committed last gets the higher id; one still open when a
// tick runs is not in it (and holds nobody up), and lands in a later tick.
func TestIDsFollowCommitOrder(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('AAA', 10), ('BBB', 20);`)
	last := head(t, dbURL)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	early, err := pgx.Connect(ctx, writerURL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close(context.Background())
	tx, err := early.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `UPDATE quotes SET price = 11 WHERE symbol = 'AAA'`); err != nil {
		t.Fatal(err)
	}
	// Another writer commits meanwhile, without waiting for the open transaction.
	mustPsql(t, writerURL(t, dbURL), `UPDATE quotes SET price = 21 WHERE symbol = 'BBB';`)
	last = expectLog(t, dbURL, last, "while an earlier change is uncommitted",
		wantEvent{"price", "BBB", map[string]any{"price": 21.0}})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	expectLog(t, dbURL, last, "after it commits", wantEvent{"price", "AAA", map[string]any{"price": 11.0}})
}

// A session holding the tick lock holds up no writer: commits go through at once.
// A tick waits for the lock at most 5 s, then fails saying who holds it and moves
// nothing; once the lock is free, the next tick moves every event, in order. (This
// replaces 000002's bounded ordering-lock wait: writers no longer take that lock.)
func TestTickLockWaitIsBounded(t *testing.T) {
	_, dbURL := testdb.Open(t)
	mustPsql(t, dbURL, `INSERT INTO quotes (symbol, price) VALUES ('ACME', 40);`)
	last := head(t, dbURL)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "lock-hog")
	u.RawQuery = q.Encode()
	hog, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close(context.Background())
	var pid int
	if err := hog.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock(7294615230471)) l`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	price := 40
	for _, as := range []struct{ role, url string }{{"postgres", dbURL}, {"writer", writerURL(t, dbURL)}} {
		price++
		start := time.Now()
		mustPsql(t, as.url, fmt.Sprintf(`UPDATE quotes SET price = %d WHERE symbol = 'ACME';`, price))
		if waited := time.Since(start); waited > 3*time.Second {
			t.Errorf("%s: a commit took %s with the tick lock held; writers must not wait for it", as.role, waited)
		}
	}

	start := time.Now()
	out, err := psql(t, dbURL, `SELECT tickerboard_tick();`)
	waited := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("tick behind a held tick lock: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`ERROR:  tickerboard_tick_lock_timeout: waited 5s for the tick lock held by pid ` +
		fmt.Sprint(pid) + ` \(application "lock-hog"\); no events were moved`)
	if !want.MatchString(out) {
		t.Errorf("psql said\n%s\nwant it to match %s", out, want)
	}
	if waited < 4*time.Second || waited > 20*time.Second {
		t.Errorf("the tick failed after %s, want about 5s", waited)
	}
	var queued int
	if err := hog.QueryRow(ctx, `SELECT count(*) FROM events_queue`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 2 {
		t.Errorf("%d events queued after the failed tick, want 2", queued)
	}

	if _, err := hog.Exec(ctx, `SELECT pg_advisory_unlock(7294615230471)`); err != nil {
		t.Fatal(err)
	}
	expectLog(t, dbURL, last, "after the lock was released",
		wantEvent{"price", "ACME", map[string]any{"price": 41.0}},
		wantEvent{"price", "ACME", map[string]any{"price": 42.0}})
}
