package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"
)

// Result is one run: one target, one client count, one offered load.
type Result struct {
	Target  string  `json:"target"` // "tickerboard" or "baseline"
	Clients int     `json:"clients"`
	Mode    string  `json:"mode"` // "single" (one change per transaction), "batch" or "idle"
	Rate    float64 `json:"rate"` // changes offered per second
	Batch   int     `json:"batch"`
	Symbols int     `json:"symbols"`
	Repeat  int     `json:"repeat"`
	Proxy   string  `json:"proxy,omitempty"` // "nginx" when the clients went through it

	ConnectSeconds float64 `json:"connect_seconds"`
	Published      int64   `json:"published"`
	PublishSeconds float64 `json:"publish_seconds"`
	// CommitRate is the changes committed per second achieved: below Rate, the
	// publisher (for Tickerboard, Postgres) could not keep up with the offered load.
	CommitRate float64 `json:"commit_rate"`
	// Delivered counts every change every client received; DeliveriesPerSec is that over
	// the time from the first commit to the last delivery.
	Delivered        int64   `json:"delivered"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Latency, commit (the row's updated_at) to the client's read, in ms, excluding the
	// warm-up.
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Lost: changes some client never became current to. Gaps: changes a client skipped
	// because a newer change of the same symbol arrived (Tickerboard's conflation of a
	// slow client; the baseline's dropped sends). Dups: changes received twice or out of
	// order. Conflated: the server's own count of frames skipped for slow clients.
	Lost      int64 `json:"lost"`
	Gaps      int64 `json:"gaps"`
	Dups      int64 `json:"dups"`
	Conflated int64 `json:"conflated,omitempty"`
	ClientErr int   `json:"client_errors"`

	// The server process, from /proc/<pid>.
	ServerPID           int     `json:"server_pid,omitempty"`
	ServerCPUCores      float64 `json:"server_cpu_cores"` // average while delivering
	ServerCPUPerDelivUs float64 `json:"server_cpu_us_per_delivery"`
	RSSBeforeMiB        float64 `json:"rss_before_mib"`        // before any client connected
	RSSIdleMiB          float64 `json:"rss_idle_mib"`          // all clients connected, no changes
	RSSPeakMiB          float64 `json:"rss_peak_mib"`          // highest sample while delivering
	IdleKiBPerClient    float64 `json:"idle_kib_per_client"`   // (idle - before) / clients
	LoadedKiBPerClient  float64 `json:"loaded_kib_per_client"` // (peak - before) / clients

	PostgresCPUCores float64 `json:"postgres_cpu_cores"`        // every postgres process, while delivering
	ProxyCPUCores    float64 `json:"proxy_cpu_cores,omitempty"` // nginx, with -nginx
	ToolCPUCores     float64 `json:"tool_cpu_cores"`            // this load tool (the clients)
	MachineBusyCores float64 `json:"machine_busy_cores"`        // all processes on the box
	LoadAvg          string  `json:"loadavg"`
	Started          string  `json:"started"`

	Browser *BrowserResult `json:"browser,omitempty"` // -browser: the page's commit→paint lag
}

// Report is what -json writes.
type Report struct {
	Machine Machine  `json:"machine"`
	Command string   `json:"command"`
	Label   string   `json:"label,omitempty"`
	Results []Result `json:"results"`
	Ratios  []Ratio  `json:"ratios,omitempty"`
}

// Ratio compares Tickerboard with the baseline for one client count and load, from the
// medians of the repeats.
type Ratio struct {
	Clients int     `json:"clients"`
	Mode    string  `json:"mode"`
	Rate    float64 `json:"rate"`
	// Throughput is Tickerboard's deliveries/s over the baseline's (higher is better);
	// P99 is Tickerboard's p99 over the baseline's (lower is better); Memory is idle
	// KiB per client, Tickerboard over baseline (lower is better).
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	Memory     float64 `json:"idle_memory"`
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (r *Result) line() string {
	browser := ""
	if b := r.Browser; b != nil {
		browser = fmt.Sprintf("\n%-11s %6s in Chromium: commit→paint p50 %.1f, worst-window p99 %.1f, max %.1f ms over %d changes (%d windows)",
			"", "", b.P50Ms, b.P99Ms, b.MaxMs, b.Changes, b.Windows)
	}
	if r.Mode == "idle" {
		return fmt.Sprintf("%-11s %6d clients idle: connect %.1fs, server RSS %.1f → %.1f MiB, %.1f KiB/client",
			r.Target, r.Clients, r.ConnectSeconds, r.RSSBeforeMiB, r.RSSIdleMiB, r.IdleKiBPerClient)
	}
	via := ""
	if r.Proxy != "" {
		via = fmt.Sprintf(", %s %.2f", r.Proxy, r.ProxyCPUCores)
	}
	if r.CommitRate < 0.97*r.Rate {
		via += fmt.Sprintf("; only %.0f changes/s published", r.CommitRate)
	}
	return fmt.Sprintf("%-11s %6d clients × %g ev/s (%s): %.0f deliveries/s, p50 %.1f p90 %.1f p99 %.1f max %.1f ms; "+
		"lost %d gaps %d dups %d; server %.2f cores (%.1f µs/delivery), idle %.1f KiB/client, peak %.1f MiB; postgres %.2f%s, tool %.2f, box %.2f cores",
		r.Target, r.Clients, r.Rate, r.Mode, r.DeliveriesPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs,
		r.Lost, r.Gaps, r.Dups, r.ServerCPUCores, r.ServerCPUPerDelivUs, r.IdleKiBPerClient, r.RSSPeakMiB,
		r.PostgresCPUCores, via, r.ToolCPUCores, r.MachineBusyCores) + browser
}

// ratios pairs the targets' medians per client count.
func ratios(results []Result) []Ratio {
	type key struct {
		clients int
		mode    string
		rate    float64
	}
	by := map[key]map[string][]Result{}
	var order []key
	for _, r := range results {
		k := key{r.Clients, r.Mode, r.Rate}
		if by[k] == nil {
			by[k] = map[string][]Result{}
			order = append(order, k)
		}
		by[k][r.Target] = append(by[k][r.Target], r)
	}
	var out []Ratio
	for _, k := range order {
		tb, base := by[k]["tickerboard"], by[k]["baseline"]
		if len(tb) == 0 || len(base) == 0 {
			continue
		}
		med := func(rs []Result, f func(Result) float64) float64 {
			vs := make([]float64, len(rs))
			for i, r := range rs {
				vs[i] = f(r)
			}
			return median(vs)
		}
		out = append(out, Ratio{
			Clients:    k.clients,
			Mode:       k.mode,
			Rate:       k.rate,
			Throughput: med(tb, func(r Result) float64 { return r.DeliveriesPerSec }) / med(base, func(r Result) float64 { return r.DeliveriesPerSec }),
			P99:        med(tb, func(r Result) float64 { return r.P99Ms }) / med(base, func(r Result) float64 { return r.P99Ms }),
			Memory:     med(tb, func(r Result) float64 { return r.IdleKiBPerClient }) / med(base, func(r Result) float64 { return r.IdleKiBPerClient }),
		})
	}
	return out
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	for i := 1; i < len(s); i++ { // insertion sort: a handful of repeats
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (q Ratio) line() string {
	if q.Mode == "idle" {
		return fmt.Sprintf("ratio at %d clients idle: memory per client ×%.2f of the baseline", q.Clients, q.Memory)
	}
	return fmt.Sprintf("ratio at %d clients × %g ev/s (%s): deliveries/s ×%.2f, p99 ×%.2f, idle memory per client ×%.2f (Tickerboard ÷ baseline)",
		q.Clients, q.Rate, q.Mode, q.Throughput, q.P99, q.Memory)
}

// writeReport writes the report as indented JSON; NaN figures (no samples) become null.
func writeReport(path string, rep Report) error {
	data, err := json.MarshalIndent(sanitize(rep), "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// sanitize replaces NaN and Inf, which JSON cannot hold, with 0.
func sanitize(rep Report) Report {
	fix := func(f *float64) {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = 0
		}
	}
	rep.Results = append([]Result(nil), rep.Results...)
	for i := range rep.Results {
		r := &rep.Results[i]
		for _, f := range []*float64{&r.DeliveriesPerSec, &r.P50Ms, &r.P90Ms, &r.P99Ms, &r.MaxMs, &r.ServerCPUCores,
			&r.ServerCPUPerDelivUs, &r.CommitRate, &r.IdleKiBPerClient, &r.LoadedKiBPerClient, &r.PostgresCPUCores, &r.ProxyCPUCores, &r.ToolCPUCores, &r.MachineBusyCores} {
			fix(f)
		}
	}
	rep.Ratios = append([]Ratio(nil), rep.Ratios...)
	for i := range rep.Ratios {
		fix(&rep.Ratios[i].Throughput)
		fix(&rep.Ratios[i].P99)
		fix(&rep.Ratios[i].Memory)
	}
	return rep
}

func readReport(path string) (Report, error) {
	var rep Report
	data, err := os.ReadFile(path)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("decode %s: %w", path, err)
	}
	return rep, nil
}

func decodeJSON[T any](resp *http.Response) (T, error) {
	var v T
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return v, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	err := json.NewDecoder(resp.Body).Decode(&v)
	return v, err
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
