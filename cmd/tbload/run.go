package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tickerboard/tickerboard/internal/nginx"
	"github.com/tickerboard/tickerboard/store"
)

// roleEnv marks a child process started to be the baseline server, so a test binary
// (whose arguments belong to the testing package) can be re-executed as one too.
const roleEnv = "TBLOAD_ROLE"

// run is the whole program; main only supplies the process's context, arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "baseline-server":
			return runBaselineServer(ctx, args[1:], stdout, stderr)
		case "chart":
			return runChart(args[1:], stdout, stderr)
		case "table":
			return runTable(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	raiseFileLimit()
	rep := Report{Machine: describeMachine(), Command: "tbload " + strings.Join(args, " "), Label: cfg.label}
	for _, n := range cfg.clients {
		for r := range cfg.repeat {
			for _, name := range cfg.targets {
				res, err := runTarget(ctx, cfg, name, n, r, &rep.Machine, stderr)
				if err != nil {
					if cfg.jsonPath != "" && len(rep.Results) > 0 {
						writeReport(cfg.jsonPath, rep) // keep what was measured
					}
					return fmt.Errorf("%s with %d clients: %w", name, n, err)
				}
				fmt.Fprintln(stdout, res.line())
				rep.Results = append(rep.Results, res)
			}
		}
	}
	rep.Ratios = ratios(rep.Results)
	for _, q := range rep.Ratios {
		fmt.Fprintln(stdout, q.line())
	}
	if cfg.jsonPath != "" {
		return writeReport(cfg.jsonPath, rep)
	}
	return nil
}

// runTarget starts (or attaches to) one target and measures one run against it.
func runTarget(ctx context.Context, cfg *config, name string, clients, repeat int, m *Machine, stderr io.Writer) (Result, error) {
	p := plan{rate: cfg.rate, batch: cfg.batch, duration: cfg.duration, symbols: cfg.symbols, writers: cfg.writers}
	var tgt target
	var err error
	switch name {
	case "baseline":
		tgt, err = startBaseline(ctx, p, stderr)
	default:
		tgt, err = startTickerboard(ctx, cfg, m, stderr)
	}
	if err != nil {
		return Result{}, err
	}
	if cfg.nginx {
		u, err := url.Parse(tgt.baseURL())
		if err != nil {
			tgt.close()
			return Result{}, err
		}
		px, err := nginx.Start(ctx, cfg.nginxBin, cfg.nginxConf, []string{u.Host}, clients, stderr)
		if err != nil {
			tgt.close()
			return Result{}, err
		}
		tgt = &proxied{target: tgt, p: px}
	}
	defer tgt.close()
	if err := tgt.prepare(ctx, p); err != nil {
		return Result{}, err
	}
	res := Result{Target: name, Clients: clients, Mode: cfg.mode, Rate: cfg.rate, Batch: cfg.batch, Symbols: cfg.symbols,
		Repeat: repeat, ServerPID: tgt.pid(), LoadAvg: loadAvg(), Started: stamp(time.Now())}
	if cfg.nginx {
		res.Proxy = "nginx"
	}
	if cfg.mode == "idle" {
		res.Rate, res.Batch = 0, 0
	}
	l := &load{cfg: cfg, tgt: tgt, plan: p, res: &res, stderr: stderr}
	return res, l.run(ctx, clients)
}

// startTickerboard attaches to -server or starts -tickerboard.
func startTickerboard(ctx context.Context, cfg *config, m *Machine, stderr io.Writer) (*tickerboardTarget, error) {
	t := &tickerboardTarget{url: strings.TrimRight(cfg.server, "/"), pidN: cfg.pid, dbURL: cfg.databaseURL, batch: cfg.mode == "batch"}
	if cfg.server == "" {
		if cfg.binary == "" {
			return nil, errors.New("tickerboard: give -tickerboard PATH (go build -o /tmp/tickerboard ./cmd/tickerboard) or -server URL -pid PID")
		}
		if cfg.fresh {
			if err := dropDatabase(ctx, cfg.databaseURL); err != nil {
				return nil, err
			}
		}
		proc, err := spawn(ctx, cfg.binary, []string{"-addr", "127.0.0.1:0", "-feeds", "none", "-log-level", "warn",
			"-database-url", cfg.databaseURL, "-max-streams", strconv.Itoa(cfg.maxStream),
			"-max-streams-per-ip", "0"}, nil, stderr)
		if err != nil {
			return nil, fmt.Errorf("tickerboard: %w", err)
		}
		t.proc, t.url, t.pidN = proc, proc.url, proc.cmd.Process.Pid
	}
	if err := store.EnsureDatabase(ctx, cfg.databaseURL); err != nil {
		t.close0()
		return nil, err
	}
	t.dbURL = publisherURL(cfg)
	st, err := store.Open(ctx, t.dbURL)
	if err != nil {
		t.close0()
		return nil, err
	}
	t.st = st
	if m.Postgres == "" {
		st.Pool().QueryRow(ctx, "SHOW server_version").Scan(&m.Postgres)
	}
	return t, nil
}

// publisherURL is the database URL for the publisher's sessions: unless
// -synchronous-commit, with synchronous_commit off, so a commit is visible (and its
// NOTIFY sent) without waiting for the disk.
func publisherURL(cfg *config) string {
	if cfg.syncCommit {
		return cfg.databaseURL
	}
	u, err := url.Parse(cfg.databaseURL)
	if err != nil {
		return cfg.databaseURL
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

func (t *tickerboardTarget) close0() {
	if t.proc != nil {
		t.proc.stop()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard one: 10,000 clients
// need 10,000 descriptors.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func selfPID() int { return os.Getpid() }

// dropDatabase drops the database named in dbURL, connecting to "postgres" to do it.
func dropDatabase(ctx context.Context, dbURL string) error {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to drop database %q: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}
