// Package testdb gives each test its own freshly created PostgreSQL database, dropped
// when the test ends, so tests never clash. The server comes from TEST_DATABASE_URL
// (default: the local server). When it cannot be reached the test is skipped, except
// under CI=true, where it fails.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tickerboard/tickerboard/store"
)

// DefaultURL is the server the tests use when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Require fails (under CI=true) or skips the test with why.
func Require(t testing.TB, why string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(why, args...)
	}
	t.Skipf(why, args...)
}

// URL creates an empty database for t and returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Require(t, "postgres unavailable at TEST_DATABASE_URL=%q: %v", admin, err)
	}
	defer conn.Close(ctx)
	buf := make([]byte, 6)
	rand.Read(buf)
	name := "tb_test_" + hex.EncodeToString(buf)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// A WAL capture still streaming (a test's instance not yet stopped, or a slot
		// being created as it stopped) keeps its slot active, and DROP DATABASE refuses
		// a database with an active slot even WITH (FORCE); inactive slots go with the
		// database. So end such sessions and try again, a bounded number of times.
		for i := 0; i < 50; i++ {
			if _, err = conn.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(active_pid, 1000)
				FROM pg_catalog.pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, name); err != nil {
				break
			}
			if _, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); !isObjectInUse(err) {
				break
			}
			time.Sleep(100 * time.Millisecond) // the slot's session is on its way out: nothing to await
		}
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open creates a database for t, applies every migration and returns a Store on it,
// closed when the test ends.
func Open(t testing.TB) (*store.Store, string) {
	t.Helper()
	u := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, u)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate("up"); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return s, u
}

// Exec runs sql on a fresh connection to the database at u, as psql would, and fails
// the test on error.
func Exec(t testing.TB, u, sql string, args ...any) {
	t.Helper()
	if err := ExecErr(u, sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// ExecErr runs sql on a fresh connection to the database at u and returns its error.
func ExecErr(u, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// Conn connects to the database at u, naming the session app in pg_stat_activity
// ("" leaves the default), and closes it when the test ends (closing it sooner is
// fine). The connect is bounded; the caller's queries take their own context.
func Conn(t testing.TB, u, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatalf("parse %q: %v", u, err)
	}
	if app != "" {
		cfg.RuntimeParams["application_name"] = app
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %q: %v", app, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// OpenEventLog removes the events table's CHECKs and guard triggers, so a test can
// write what a superuser, an old row or another capture could: the Go side must not
// trust them.
func OpenEventLog(t testing.TB, u string) {
	t.Helper()
	Exec(t, u, `DO $$ DECLARE c text; BEGIN
		FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'c' LOOP
			EXECUTE format('ALTER TABLE events DROP CONSTRAINT %I', c);
		END LOOP; END $$;
		ALTER TABLE events DISABLE TRIGGER USER`)
}

// AwaitCapture returns once every change committed at u so far is in the event log:
// at once under the trigger capture (events commit with their changes), and under the
// WAL capture when its slot has confirmed the WAL position read now (it confirms only
// what it has appended to the log). Bounded at 30 s.
func AwaitCapture(t testing.TB, u string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("await capture: %v", err)
	}
	defer conn.Close(ctx)
	var at string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&at); err != nil {
		t.Fatalf("await capture: %v", err)
	}
	for {
		var done bool
		err := conn.QueryRow(ctx, `SELECT m.mode = 'triggers' OR coalesce(
			(SELECT s.confirmed_flush_lsn >= $1::pg_lsn FROM pg_catalog.pg_replication_slots s
			 WHERE s.database = current_database() AND s.slot_name LIKE 'tickerboard%'), false)
			FROM capture_mode m`, at).Scan(&done)
		if err != nil {
			t.Fatalf("await capture of %s: %v", at, err)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the capture did not reach WAL position %s within 30s", at)
		case <-time.After(10 * time.Millisecond): // the slot's position is only polled
		}
	}
}

// RequireWALCapture fails (under CI) or skips the test when the server cannot decode
// its WAL (wal_level is not logical), so the WAL capture cannot run.
func RequireWALCapture(t testing.TB, st *store.Store) {
	t.Helper()
	if c, err := st.ChooseCapture(context.Background(), store.CaptureAuto); err != nil || c.Mode != store.CaptureWAL {
		Require(t, "the WAL capture needs wal_level = logical: %v %v", c, err)
	}
}

// RunCapture runs a WAL capture on st, after adjust (if any) has set it up, until the
// test ends (or stop is called) and returns once it streams: from then on every commit
// is decoded by it.
func RunCapture(t testing.TB, st *store.Store, adjust ...func(*store.Capture)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := store.NewCapture(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, f := range adjust {
		f(c)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("capture: %v", err)
			}
			ReleaseSlot(t, st)
		})
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(30 * time.Second); !c.Streaming(); {
		select {
		case err := <-done:
			done <- err // for stop, which the cleanup runs
			t.Fatalf("capture ended before streaming: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the capture is not streaming after 30s")
		}
		time.Sleep(5 * time.Millisecond) // Streaming is a flag, not an event
	}
	return stop
}

// ReleaseSlot waits until no WAL sender holds st's capture slot: a stopped capture has
// closed its replication connection, but its sender may still be exiting, and a
// capture started (or a slot dropped) meanwhile would find the slot in use.
func ReleaseSlot(t testing.TB, st *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.Pool().Exec(ctx, `SELECT pg_terminate_backend(active_pid, 10000) FROM pg_replication_slots
		WHERE slot_name = $1 AND active_pid IS NOT NULL`, st.CaptureSlot()); err != nil {
		t.Fatalf("release the capture slot: %v", err)
	}
}

// isObjectInUse: Postgres refused because something still uses the object (55006).
func isObjectInUse(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55006"
}
