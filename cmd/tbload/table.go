package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
)

// runTable is `tbload table`: the Markdown tables of BENCHMARKS.md from -json reports,
// medians over repeats, with the spread of p99 (lowest–highest run).
func runTable(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tbload table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("table: give one or more results files written by -json")
	}
	fmt.Fprintln(stdout, "| run | load | target | runs | deliveries/s | p50 ms | p99 ms (range) | max ms | lost / gaps / dups | server µs per delivery | server cores | idle KiB per client | peak RSS MiB |")
	fmt.Fprintln(stdout, "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, path := range fs.Args() {
		rep, err := readReport(path)
		if err != nil {
			return fmt.Errorf("table: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		for _, g := range groups(rep.Results) {
			for _, target := range []string{"tickerboard", "baseline"} {
				rs := g.by[target]
				if len(rs) == 0 {
					continue
				}
				fmt.Fprintln(stdout, tableRow(name, rs))
			}
			if tb, base := g.by["tickerboard"], g.by["baseline"]; len(tb) > 0 && len(base) > 0 {
				q := ratioOf(tb, base)
				if g.mode == "idle" {
					fmt.Fprintf(stdout, "| | | **ratio** | | | | | | | | | **×%.2f** | |\n", q.Memory)
					continue
				}
				fmt.Fprintf(stdout, "| | | **ratio** | | **×%.2f** | | **×%.2f** | | | ×%.2f | | **×%.2f** | |\n",
					q.Throughput, q.P99, q.CPU, q.Memory)
			}
		}
	}
	return nil
}

type group struct {
	clients int
	mode    string
	rate    float64
	by      map[string][]Result
}

// groups collects runs of the same load, in the order they first appear.
func groups(results []Result) []*group {
	var out []*group
	for _, r := range results {
		var g *group
		for _, h := range out {
			if h.clients == r.Clients && h.mode == r.Mode && h.rate == r.Rate {
				g = h
			}
		}
		if g == nil {
			g = &group{clients: r.Clients, mode: r.Mode, rate: r.Rate, by: map[string][]Result{}}
			out = append(out, g)
		}
		g.by[r.Target] = append(g.by[r.Target], r)
	}
	return out
}

func med(rs []Result, f func(Result) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	return median(vs)
}

func span(rs []Result, f func(Result) float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		lo, hi = math.Min(lo, f(r)), math.Max(hi, f(r))
	}
	return lo, hi
}

func tableRow(name string, rs []Result) string {
	r := rs[0]
	load := fmt.Sprintf("%d clients idle", r.Clients)
	if r.Mode != "idle" {
		load = fmt.Sprintf("%d clients × %g changes/s (%s", r.Clients, r.Rate, r.Mode)
		if r.Mode == "batch" {
			load += fmt.Sprintf(" of %d", r.Batch)
		}
		load += ")"
		if rate := med(rs, commitRate); rate < 0.97*r.Rate {
			load += fmt.Sprintf(", only %.0f/s published", rate)
		}
		if r.Proxy != "" {
			load += " via " + r.Proxy
		}
	}
	var lost, gaps, dups int64
	for _, x := range rs {
		lost, gaps, dups = lost+x.Lost, gaps+x.Gaps, dups+x.Dups
	}
	if r.Mode == "idle" {
		return fmt.Sprintf("| %s | %s | %s | %d | | | | | | | | %.1f | %.1f |", name, load, r.Target, len(rs),
			med(rs, func(x Result) float64 { return x.IdleKiBPerClient }), med(rs, func(x Result) float64 { return x.RSSIdleMiB }))
	}
	lo, hi := span(rs, func(x Result) float64 { return x.P99Ms })
	p99 := fmt.Sprintf("%.1f", med(rs, func(x Result) float64 { return x.P99Ms }))
	if len(rs) > 1 {
		p99 += fmt.Sprintf(" (%.0f–%.0f)", lo, hi)
	}
	return fmt.Sprintf("| %s | %s | %s | %d | %.0f | %.1f | %s | %.0f | %d / %d / %d | %.1f | %.2f | %.1f | %.1f |",
		name, load, r.Target, len(rs),
		med(rs, func(x Result) float64 { return x.DeliveriesPerSec }),
		med(rs, func(x Result) float64 { return x.P50Ms }), p99,
		med(rs, func(x Result) float64 { return x.MaxMs }),
		lost, gaps, dups,
		med(rs, func(x Result) float64 { return x.ServerCPUPerDelivUs }),
		med(rs, func(x Result) float64 { return x.ServerCPUCores }),
		med(rs, func(x Result) float64 { return x.IdleKiBPerClient }),
		med(rs, func(x Result) float64 { return x.RSSPeakMiB }))
}

type tableRatio struct{ Throughput, P99, CPU, Memory float64 }

func ratioOf(tb, base []Result) tableRatio {
	div := func(f func(Result) float64) float64 { return med(tb, f) / med(base, f) }
	return tableRatio{
		Throughput: div(func(x Result) float64 { return x.DeliveriesPerSec }),
		P99:        div(func(x Result) float64 { return x.P99Ms }),
		CPU:        div(func(x Result) float64 { return x.ServerCPUPerDelivUs }),
		Memory:     div(func(x Result) float64 { return x.IdleKiBPerClient }),
	}
}

// commitRate is what the run achieved (older reports lack the field).
func commitRate(r Result) float64 {
	if r.CommitRate == 0 && r.PublishSeconds > 0 {
		return float64(r.Published) / r.PublishSeconds
	}
	return r.CommitRate
}
