// Command e2echeck is the SSE client of deploy/e2e.sh: the checks of the shipped stack
// that need to read a Server-Sent Events stream or compare streams, run against nginx
// on localhost. It uses only the standard library so the e2e needs nothing but Go.
//
//	e2echeck page    -base URL                  the page, probes and response headers
//	e2echeck stream  -base URL                  retry, snapshot, then live price events
//	e2echeck latency -base URL -game ID -team home -points 3 -- CMD...
//	                 CMD (the README's psql insert) reaches an SSE client within -within
//	e2echeck resume  -base URL -- PSQL...       Last-Event-ID on another instance gets
//	                 exactly the missed events (PSQL + one SQL argument lists the ids)
//	e2echeck leader  -base URL -instances N [-exclude ADDR] [-within D]
//	                 exactly one of N instances reports tickerboard_leader 1; prints it
//
// Every check prints what it measured on stdout and exits 1 with the reason if the
// stack does not behave.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2echeck:", err)
		os.Exit(1)
	}
}

// errUsage is returned for a command line that names no known check.
var errUsage = errors.New("usage: e2echeck page|stream|latency|resume|leader [flags] [-- command...]")

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	fs := flag.NewFlagSet("e2echeck "+args[0], flag.ContinueOnError)
	base := fs.String("base", "http://127.0.0.1:8080", "the site's address (nginx)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on the whole check after this long")
	var cfg config
	switch args[0] {
	case "latency":
		fs.Int64Var(&cfg.game, "game", 0, "the game the command scores in")
		fs.StringVar(&cfg.team, "team", "home", "the team the command scores for")
		fs.IntVar(&cfg.points, "points", 0, "the points the command scores")
		fs.DurationVar(&cfg.within, "within", time.Second, "longest allowed time from commit to the client")
	case "leader":
		fs.IntVar(&cfg.instances, "instances", 0, "how many instances must answer")
		fs.StringVar(&cfg.exclude, "exclude", "", "an instance address (ip:port) that no longer counts")
		fs.DurationVar(&cfg.within, "within", 30*time.Second, "how long the instances may take to agree")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg.base = *base
	cfg.command = fs.Args()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	switch args[0] {
	case "page":
		return checkPage(ctx, cfg, stdout)
	case "stream":
		return checkStream(ctx, cfg, stdout)
	case "latency":
		return checkLatency(ctx, cfg, stdout)
	case "resume":
		return checkResume(ctx, cfg, stdout)
	case "leader":
		return checkLeader(ctx, cfg, stdout)
	}
	return errUsage
}

// config is every check's settings; each check reads the ones it defines.
type config struct {
	base      string
	command   []string
	game      int64
	team      string
	points    int
	within    time.Duration
	instances int
	exclude   string
}
