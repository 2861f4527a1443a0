// Package testdb gives each test its own freshly created PostgreSQL database, dropped
// when the test ends, so tests never clash. The server comes from TEST_DATABASE_URL
// (default: the local server). When it cannot be reached the test is skipped, except
// under CI=true, where it fails.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
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
