package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// config is one invocation's settings: flags override environment variables, which
// override the defaults.
type config struct {
	targets     []string
	server      string // a running Tickerboard (or a proxy in front of it)
	pid         int
	binary      string // a Tickerboard binary to start
	databaseURL string

	clients    []int
	rate       float64
	mode       string
	batch      int
	writers    int
	symbols    int
	duration   time.Duration
	warmup     time.Duration
	drain      time.Duration
	settle     time.Duration
	connRate   float64
	connPar    int
	repeat     int
	query      string
	jsonPath   string
	label      string
	quiet      bool
	progress   time.Duration
	maxStream  int
	syncCommit bool
	browser    bool
	nginx      bool
	nginxBin   string
	nginxConf  string
	fresh      bool
}

// defaultDatabaseURL keeps the load tool's symbols out of a real board's database.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/tbload?sslmode=disable"

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("tbload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `tbload puts N streaming SSE clients on Tickerboard and on a minimal net/http
broadcaster (the baseline), offers the same load to both, and reports deliveries/s,
commit→receive latency, losses, and the servers' CPU and memory per client.

usage: tbload [flags]              run the load (see BENCHMARKS.md)
       tbload chart -o out.svg results.json...
       tbload table results.json...   Markdown tables, medians over repeats
       tbload baseline-server [-addr A] [-symbols N]

`)
		fs.PrintDefaults()
	}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	targets := fs.String("targets", "baseline,tickerboard", "what to load, in order: baseline, tickerboard")
	fs.StringVar(&c.server, "server", "", "URL of a running Tickerboard (or nginx in front of it); with -pid to measure it")
	fs.IntVar(&c.pid, "pid", 0, "process id of the Tickerboard at -server, for CPU and memory from /proc")
	fs.StringVar(&c.binary, "tickerboard", "", "a Tickerboard binary to start (with -feeds none) when -server is not given")
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", defaultDatabaseURL), "the database Tickerboard follows; the publisher commits to it (env DATABASE_URL)")
	clients := fs.String("clients", "1000", "concurrent SSE clients; a comma-separated list runs each")
	fs.Float64Var(&c.rate, "rate", 100, "changes committed per second")
	fs.StringVar(&c.mode, "mode", "single", "single: one UPDATE per transaction, as psql; batch: -batch rows per transaction with the feeds' writer; idle: connect and measure memory only")
	fs.IntVar(&c.batch, "batch", 100, "changes per transaction in batch mode")
	fs.IntVar(&c.writers, "writers", 1, "SQL connections committing at once (in batch mode, each moves its own share of the symbols)")
	fs.IntVar(&c.symbols, "symbols", 100, "how many quotes (TB0000…) the changes rotate over")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to publish (in idle mode: how long to hold the clients)")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "latencies in the first part of the run are not recorded")
	fs.DurationVar(&c.drain, "drain", 20*time.Second, "how long to wait after publishing for clients to catch up")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "idle wait after connecting before memory is read")
	fs.Float64Var(&c.connRate, "connect-rate", 2000, "new connections per second")
	fs.IntVar(&c.connPar, "connect-parallel", 64, "connections being set up at once")
	fs.IntVar(&c.repeat, "repeat", 1, "runs of each target and client count, alternating targets")
	fs.StringVar(&c.query, "query", "?topics=price", "the /events query every client sends")
	fs.StringVar(&c.jsonPath, "json", "", "write the results here as JSON")
	fs.StringVar(&c.label, "label", "", "a note stored with the JSON results (conditions, build)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line")
	fs.DurationVar(&c.progress, "progress", time.Second, "how often the progress line is printed")
	fs.BoolVar(&c.syncCommit, "synchronous-commit", false, "let the publisher's commits wait for the WAL flush; off, the mark a change carries (updated_at) is its commit, not its commit plus the disk's fsync")
	fs.BoolVar(&c.browser, "browser", false, "also open the board in headless Chromium (Tickerboard only) and report the page's own commit→paint lag")
	fs.BoolVar(&c.nginx, "nginx", false, "put nginx, configured with -nginx-conf, in front of each target")
	fs.StringVar(&c.nginxBin, "nginx-bin", "nginx", "the nginx binary")
	fs.StringVar(&c.nginxConf, "nginx-conf", "deploy/nginx.conf", "nginx site configuration (its `listen 80;` line is replaced)")
	fs.BoolVar(&c.fresh, "fresh-database", false, "drop the database before each Tickerboard run that -tickerboard starts, so every run begins with an empty log")
	fs.IntVar(&c.maxStream, "max-streams", 0, "-max-streams for a started Tickerboard (default: largest -clients + 100)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, t := range strings.Split(*targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "baseline", "tickerboard":
			c.targets = append(c.targets, t)
		default:
			return nil, fmt.Errorf("-targets: unknown target %q (want baseline, tickerboard)", t)
		}
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 100_000 {
			return nil, fmt.Errorf("-clients: %q is not a count from 1 to 100000", s)
		}
		c.clients = append(c.clients, n)
		c.maxStream = max(c.maxStream, n+100)
	}
	switch {
	case c.mode != "single" && c.mode != "batch" && c.mode != "idle":
		return nil, fmt.Errorf("-mode %q: want single, batch or idle", c.mode)
	case c.rate <= 0:
		return nil, fmt.Errorf("-rate %g: must be positive", c.rate)
	case c.symbols < 1 || c.symbols > 9999:
		return nil, fmt.Errorf("-symbols %d: want 1 to 9999", c.symbols)
	case c.mode == "batch" && (c.batch < 1 || c.batch*c.writers > c.symbols):
		return nil, fmt.Errorf("-batch %d × -writers %d: want at most -symbols (%d), so no transaction moves a symbol twice", c.batch, c.writers, c.symbols)
	case c.writers < 1 || c.writers > 64:
		return nil, fmt.Errorf("-writers %d: want 1 to 64", c.writers)
	case c.duration <= 0 || c.repeat < 1 || c.connRate <= 0 || c.connPar < 1:
		return nil, fmt.Errorf("-duration, -repeat, -connect-rate and -connect-parallel must be positive")
	case c.pid != 0 && c.server == "":
		return nil, fmt.Errorf("-pid needs -server")
	case c.server != "" && c.binary != "":
		return nil, fmt.Errorf("give -server (a running Tickerboard) or -tickerboard (a binary to start), not both")
	}
	if c.mode != "batch" {
		c.batch = 1
	}
	if !strings.HasPrefix(c.query, "?") && c.query != "" {
		return nil, fmt.Errorf("-query %q: must start with ?", c.query)
	}
	return c, nil
}

func (c *config) wants(target string) bool {
	for _, t := range c.targets {
		if t == target {
			return true
		}
	}
	return false
}
