// Command tbload measures Tickerboard under load and compares it with a minimal
// net/http broadcaster on the same machine in the same run: N real SSE clients, a
// publisher committing uniquely numbered changes through SQL, and per delivery the
// time from commit to receipt. See BENCHMARKS.md for the commands and the numbers.
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
		fmt.Fprintln(os.Stderr, "tbload:", err)
		os.Exit(1)
	}
}
