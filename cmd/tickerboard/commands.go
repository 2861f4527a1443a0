package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// runMigrate is `tickerboard migrate up|down|version|goto N|force N`. goto and force
// are golang-migrate's own recovery: step to a known version, or after a migration
// failed part-way, say which version the schema really is at.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tickerboard migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var url string // not a flag default: -h would print its password
	fs.StringVar(&url, "database-url", "", "PostgreSQL URL (env DATABASE_URL, default "+store.DefaultURL+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tickerboard migrate [-database-url URL] up|down|version|goto N|force N")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if url == "" {
		if url = getenv("DATABASE_URL"); url == "" {
			url = store.DefaultURL
		}
	}
	cmd, n, err := parseMigrateArgs(fs.Args())
	if err != nil {
		fs.Usage()
		return err
	}
	if err := store.EnsureDatabase(ctx, url); err != nil {
		return err
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	var v uint
	switch cmd {
	case "version":
		v, dirty, err := st.SchemaVersion()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "version %d (dirty: %t)\n", v, dirty)
		return nil
	case "force":
		if err := st.Force(n); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "forced version %d (dirty: false); no migration was run\n", n)
		return nil
	case "goto":
		v, err = st.Goto(uint(n))
	default:
		v, err = st.Migrate(cmd)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s; now at version %d\n", strings.Join(fs.Args(), " "), v)
	return nil
}

// parseMigrateArgs checks migrate's words before anything touches the database.
func parseMigrateArgs(args []string) (cmd string, n int, err error) {
	if len(args) == 0 {
		return "", 0, fmt.Errorf("migrate: want one of up, down, version, goto N, force N")
	}
	cmd = args[0]
	switch cmd {
	case "up", "down", "version":
		if len(args) != 1 {
			return "", 0, fmt.Errorf("migrate %s: unexpected argument %q", cmd, args[1])
		}
		return cmd, 0, nil
	case "goto", "force":
		if len(args) != 2 {
			return "", 0, fmt.Errorf("migrate %s: want one version number, e.g. `migrate %s 1`", cmd, cmd)
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("migrate %s: %q is not a version number (0 for none, 1, 2, …)", cmd, args[1])
		}
		return cmd, n, nil
	}
	return "", 0, fmt.Errorf("migrate: unknown command %q (want up, down, version, goto N or force N)", cmd)
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
