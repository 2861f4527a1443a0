package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
)

// TestMain lets the test binary be the baseline server's child process too, as the
// tbload binary is (the load tool re-executes itself for it).
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "baseline-server" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveTickerboard serves the real store, notifier, hub and handler in this process,
// on a fresh database, as cmd/tickerboard wires them.
func serveTickerboard(t *testing.T) (url, dbURL string) {
	t.Helper()
	st, dbURL := testdb.Open(t)
	return testserver.Start(t, st, dbURL, testserver.Options{Ring: 4096}).URL, dbURL
}

// A tiny run of the real tool against Tickerboard (single-row and batched commits) and
// the baseline: every client gets every change exactly once, and the report says so.
func TestLoadToolDeliversEveryChangeOnce(t *testing.T) {
	url, dbURL := serveTickerboard(t)
	dir := t.TempDir()
	const clients, symbols = 3, 7
	common := []string{"-server", url, "-pid", strconv.Itoa(os.Getpid()), "-database-url", dbURL,
		"-clients", strconv.Itoa(clients), "-symbols", strconv.Itoa(symbols), "-rate", "300", "-duration", "500ms",
		"-warmup", "0", "-settle", "0", "-quiet"}
	runs := []struct {
		name string
		args []string
		want []string // targets, in order
	}{
		{"single", []string{"-mode", "single", "-targets", "baseline,tickerboard"}, []string{"baseline", "tickerboard"}},
		{"batch", []string{"-mode", "batch", "-batch", "5", "-targets", "tickerboard"}, []string{"tickerboard"}},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			path := filepath.Join(dir, r.name+".json")
			var out, errOut bytes.Buffer
			args := append(append(append([]string{}, common...), r.args...), "-json", path)
			if err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); err != nil {
				t.Fatalf("tbload %v: %v\n%s", args, err, errOut.String())
			}
			rep, err := readReport(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != len(r.want) {
				t.Fatalf("%d results, want %d: %+v", len(rep.Results), len(r.want), rep.Results)
			}
			for i, res := range rep.Results {
				if res.Target != r.want[i] || res.Clients != clients {
					t.Errorf("result %d is %s with %d clients", i, res.Target, res.Clients)
				}
				if res.Published < 100 {
					t.Errorf("%s: published %d changes, want about 150", res.Target, res.Published)
				}
				if res.Lost != 0 || res.Gaps != 0 || res.Dups != 0 || res.ClientErr != 0 {
					t.Errorf("%s: lost %d, gaps %d, dups %d, client errors %d; want all 0\n%s",
						res.Target, res.Lost, res.Gaps, res.Dups, res.ClientErr, errOut.String())
				}
				if res.Delivered != res.Published*clients {
					t.Errorf("%s: delivered %d, want %d clients × %d changes", res.Target, res.Delivered, clients, res.Published)
				}
				if res.P50Ms <= 0 || res.MaxMs < res.P99Ms || res.P99Ms < res.P50Ms {
					t.Errorf("%s: latency p50 %g p99 %g max %g ms", res.Target, res.P50Ms, res.P99Ms, res.MaxMs)
				}
				if res.ServerPID == 0 || res.RSSIdleMiB <= 0 {
					t.Errorf("%s: no server process figures: pid %d, RSS %g MiB", res.Target, res.ServerPID, res.RSSIdleMiB)
				}
			}
			if !bytes.Contains(out.Bytes(), []byte(r.want[len(r.want)-1])) {
				t.Errorf("summary does not name %s:\n%s", r.want[len(r.want)-1], out.String())
			}
		})
	}
}
