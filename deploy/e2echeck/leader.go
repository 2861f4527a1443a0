package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// checkLeader asks /metrics through nginx until it has heard from cfg.instances
// instances (not counting cfg.exclude) and exactly one of them reports
// tickerboard_leader 1, or cfg.within passes. It prints the leader's address first on
// its line, then how long agreement took.
func checkLeader(ctx context.Context, cfg config, stdout io.Writer) error {
	if cfg.instances <= 0 {
		return fmt.Errorf("leader needs -instances")
	}
	start := time.Now()
	deadline := start.Add(cfg.within)
	type sample struct {
		leader float64
		at     time.Time
	}
	latest := map[string]sample{}
	requests := 0
	for {
		requests++
		resp, body, err := get(ctx, cfg.base+"/metrics")
		if err != nil {
			return err
		}
		by := lastAddr(resp.Header.Get("X-Served-By"))
		if by == "" {
			return fmt.Errorf("GET /metrics: no X-Served-By header")
		}
		v, err := gauge(body, "tickerboard_leader")
		if err != nil {
			return fmt.Errorf("GET /metrics from %s: %w", by, err)
		}
		if v != 0 && v != 1 {
			return fmt.Errorf("GET /metrics from %s: tickerboard_leader %v, want 0 or 1", by, v)
		}
		now := time.Now()
		if by != cfg.exclude {
			latest[by] = sample{v, now}
		}
		// Only answers from the last few seconds count: leadership moves.
		var leaders, fresh []string
		for addr, s := range latest {
			if now.Sub(s.at) > 3*time.Second {
				continue
			}
			fresh = append(fresh, addr)
			if s.leader == 1 {
				leaders = append(leaders, addr)
			}
		}
		sort.Strings(fresh)
		if len(fresh) == cfg.instances && len(leaders) == 1 {
			fmt.Fprintf(stdout, "%s leads; %d instances answered %v; agreed after %s and %d requests\n",
				leaders[0], len(fresh), fresh, time.Since(start).Round(10*time.Millisecond), requests)
			return nil
		}
		if len(fresh) > cfg.instances {
			return fmt.Errorf("%d instances answered %v, want %d", len(fresh), fresh, cfg.instances)
		}
		if now.After(deadline) {
			return fmt.Errorf("after %s: instances %v answered, leaders among them %v; want %d instances and exactly one leader",
				cfg.within, fresh, leaders, cfg.instances)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// gauge reads an unlabelled metric's value from a Prometheus text exposition.
func gauge(body []byte, name string) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(rest)
		if strings.HasPrefix(rest, "{") {
			_, after, _ := strings.Cut(rest, "}")
			fields = strings.Fields(after)
		}
		if len(fields) == 0 {
			return 0, fmt.Errorf("metric line %q has no value", line)
		}
		return strconv.ParseFloat(fields[0], 64)
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}
