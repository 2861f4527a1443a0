// Command tickerboard serves the live board: it migrates the database, follows its
// change log, streams every committed change to browsers over SSE, and (on the elected
// instance) runs the simulated market and games.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tickerboard:", err)
		os.Exit(1)
	}
}
