package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

func TestParseMigrateArgs(t *testing.T) {
	cases := []struct {
		args    []string
		cmd     string
		n       int
		wantErr string
	}{
		{[]string{"up"}, "up", 0, ""},
		{[]string{"down"}, "down", 0, ""},
		{[]string{"version"}, "version", 0, ""},
		{[]string{"goto", "1"}, "goto", 1, ""},
		{[]string{"goto", "0"}, "goto", 0, ""},
		{[]string{"force", "2"}, "force", 2, ""},
		{nil, "", 0, "want one of up, down, version, goto N, force N"},
		{[]string{"up", "2"}, "", 0, `migrate up: unexpected argument "2"`},
		{[]string{"force"}, "", 0, "migrate force: want one version number"},
		{[]string{"goto", "1", "2"}, "", 0, "migrate goto: want one version number"},
		{[]string{"force", "-1"}, "", 0, `migrate force: "-1" is not a version number`},
		{[]string{"goto", "two"}, "", 0, `migrate goto: "two" is not a version number`},
		{[]string{"sideways"}, "", 0, `unknown command "sideways"`},
	}
	for _, c := range cases {
		cmd, n, err := parseMigrateArgs(c.args)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || cmd != c.cmd || n != c.n {
			t.Errorf("%q: got %q %d %v, want %q %d", c.args, cmd, n, err, c.cmd, c.n)
		}
	}
}

// A migration that fails leaves the schema dirty, and nothing migrates until an
// operator says which version it really is: the recovery the README's
// Troubleshooting gives, step by step, against the real Postgres.
func TestMigrateForceAndGotoRecoverADirtySchema(t *testing.T) {
	dbURL := testdb.URL(t)
	ctx := context.Background()
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	constraintExists := func(name string) bool {
		t.Helper()
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1)`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	type step struct {
		args    string
		want    string // in stdout
		wantErr string // in the error, if it must fail
		before  string // SQL run first
	}
	steps := []step{
		{args: "up", want: "migrated up; now at version 11"},
		{args: "goto 1", want: "migrated goto 1; now at version 1"},
		// Make migration 2 fail on purpose: an object it creates is already there.
		{before: `CREATE FUNCTION events_capture_only() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'`,
			args: "up", wantErr: "events_capture_only"},
		{args: "version", want: "version 2 (dirty: true)"},
		{args: "up", wantErr: "tickerboard migrate force 1"},
		{args: "goto 1", wantErr: "the schema is dirty: migration 2 failed part-way"},
		{args: "down", wantErr: "the schema is dirty"},
		{args: "force 12", wantErr: "no migration 12 (want 0 for none, or one of [1 2 3 4 5 6 7 8 9 10 11])"},
		{args: "version", want: "version 2 (dirty: true)"},
		// Migration 2 runs in one transaction, so none of it is applied: force 1.
		{before: `DROP FUNCTION events_capture_only()`, args: "force 1", want: "forced version 1 (dirty: false)"},
		{args: "version", want: "version 1 (dirty: false)"},
		{args: "up", want: "now at version 11"},
		{args: "goto 0", want: "now at version 0"},
		{args: "version", want: "version 0 (dirty: false)"},
		{args: "goto 2", want: "now at version 2"},
		{args: "goto 2", want: "now at version 2"},
		{args: "goto 3", want: "now at version 3"},
		{args: "goto 4", want: "now at version 4"},
		{args: "goto 5", want: "now at version 5"},
		{args: "goto 6", want: "now at version 6"},
		{args: "goto 7", want: "now at version 7"},
		{args: "goto 8", want: "now at version 8"},
		{args: "goto 9", want: "now at version 9"},
		{args: "goto 10", want: "now at version 10"},
		{args: "goto 11", want: "now at version 11"},
		{args: "goto 12", wantErr: "no migration 12"},
		{args: "force 0", want: "forced version 0"},
		{args: "version", want: "version 0 (dirty: false)"},
		{args: "force 2", want: "forced version 2"},
		{args: "version", want: "version 2 (dirty: false)"},
	}
	for i, s := range steps {
		if s.before != "" {
			exec(s.before)
		}
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"migrate"}, strings.Fields(s.args)...), env, &out, &errOut)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("step %d, migrate %s: error %v, want one containing %q", i, s.args, err, s.wantErr)
			}
			if i == 2 && constraintExists("events_name_format") {
				t.Fatal("the failed migration 2 left part of itself applied; force 1 would be wrong")
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d, migrate %s: %v %s", i, s.args, err, errOut.String())
		}
		if !strings.Contains(out.String(), s.want) {
			t.Fatalf("step %d, migrate %s printed %q, want %q", i, s.args, out.String(), s.want)
		}
	}
	if !constraintExists("events_name_format") {
		t.Fatal("after recovery, migration 2's constraints are missing")
	}
}

// The server itself refuses a dirty schema and says how to recover.
func TestRunRefusesADirtySchema(t *testing.T) {
	dbURL := testdb.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	if err := run(ctx, []string{"migrate", "up"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"-addr", "127.0.0.1:0", "-feeds", "none"}, env, io.Discard, io.Discard)
	t.Log(err)
	vs, verr := store.MigrationVersions()
	if verr != nil {
		t.Fatal(verr)
	}
	// none of the newest migration applied: force the one before it
	want := fmt.Sprintf("`tickerboard migrate force %d`", vs[len(vs)-2])
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run on a dirty schema: %v; want it to name %s", err, want)
	}
}
