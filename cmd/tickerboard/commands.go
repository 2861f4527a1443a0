package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// runMigrate is `tickerboard migrate up|down|version`.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tickerboard migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var url string // not a flag default: -h would print its password
	fs.StringVar(&url, "database-url", "", "PostgreSQL URL (env DATABASE_URL, default "+store.DefaultURL+")")
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: tickerboard migrate [-database-url URL] up|down|version") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if url == "" {
		if url = getenv("DATABASE_URL"); url == "" {
			url = store.DefaultURL
		}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("migrate: want one of up, down, version")
	}
	cmd := fs.Arg(0)
	if cmd != "up" && cmd != "down" && cmd != "version" {
		fs.Usage()
		return fmt.Errorf("migrate: unknown command %q (want up, down or version)", cmd)
	}
	if err := store.EnsureDatabase(ctx, url); err != nil {
		return err
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	if cmd == "version" {
		v, dirty, err := st.SchemaVersion()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "version %d (dirty: %t)\n", v, dirty)
		return nil
	}
	v, err := st.Migrate(cmd)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s; now at version %d\n", cmd, v)
	return nil
}

// runHealthcheck is `tickerboard healthcheck`: exit 0 iff the local server's /readyz
// says 200. The runtime image has no curl, so the container's HEALTHCHECK uses this.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tickerboard healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := getenv("TICKERBOARD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	fs.StringVar(&addr, "addr", addr, "address of the server to check (env TICKERBOARD_ADDR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: bad -addr %q: %w", addr, err)
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %s %s", url, resp.Status, body)
	}
	return nil
}
