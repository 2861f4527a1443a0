package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tickerboard/tickerboard/store"
)

// Gauges are read from the parts cmd wires together when /metrics is scraped.
type Gauges struct {
	EventsRead func() int64 // events the notifier read from Postgres
	Reconnects func() int64 // times the LISTEN connection was lost and re-made
	Leading    func() bool  // whether this instance runs the feeds
	// Locks lists who holds or waits for the ordering and leader locks, asked at
	// scrape time (store.LockWatch.Holders).
	Locks func(context.Context) ([]store.LockHolder, error)
	// Build labels tickerboard_build_info, so a dashboard shows which build each
	// instance runs; without a Version there is no such metric.
	Build BuildInfo
}

// BuildInfo is the binary's version, the Go toolchain that built it and its commit.
type BuildInfo struct{ Version, GoVersion, Revision string }

// metrics is one server's instruments, in its own registry so several servers can run
// in one process (as the tests do).
type metrics struct {
	reg             *prometheus.Registry
	clients         prometheus.Gauge
	framesWritten   prometheus.Counter
	bytesWritten    prometheus.Counter
	conflated       prometheus.Counter
	slowDisconnects prometheus.Counter
	overruns        prometheus.Counter
	drains          prometheus.Counter
	parked          prometheus.Gauge
	resets          prometheus.Counter
	catchUpEvents   prometheus.Counter
	rejected        *prometheus.CounterVec
	lag             prometheus.Histogram
}

func newMetrics(g Gauges) *metrics {
	reg := prometheus.NewRegistry()
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tickerboard_" + name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m := &metrics{
		reg:             reg,
		framesWritten:   f("frames_written_total", "Event frames written to SSE clients."),
		bytesWritten:    f("bytes_written_total", "Bytes written to SSE clients."),
		conflated:       f("frames_conflated_total", "Frames skipped for slow clients because a newer frame of the same quote or game replaced them."),
		slowDisconnects: f("slow_client_disconnects_total", "Clients dropped because their socket accepted nothing within the write timeout."),
		overruns:        f("ring_overruns_total", "Times a client fell out of the in-memory ring and caught up from Postgres."),
		drains:          f("stream_drains_total", "Times a parked stream's socket would not take a batch at once, so the stream got a goroutine to drain it."),
		parked:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "tickerboard_streams_parked", Help: "Caught-up streams served without a goroutine of their own."}),
		resets:          f("resets_total", "Streams sent a reset and fresh snapshot (resume point pruned, unknown or too far behind)."),
		catchUpEvents:   f("catchup_events_total", "Events read from Postgres to catch up resuming or slow clients."),
		clients:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "tickerboard_clients", Help: "Connected SSE clients."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tickerboard_streams_rejected_total",
			Help: "Stream requests refused, by reason."}, []string{"reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tickerboard_commit_to_send_seconds",
			Help:    "Time from a change's commit in Postgres to its frame being written to a client.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
	}
	reg.MustRegister(m.clients, m.parked, m.rejected, m.lag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if g.EventsRead != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickerboard_events_read_total",
			Help: "Events read from the Postgres change log by the notifier."}, func() float64 { return float64(g.EventsRead()) }))
	}
	if g.Reconnects != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickerboard_notifier_reconnects_total",
			Help: "Times the LISTEN connection was lost and re-made."}, func() float64 { return float64(g.Reconnects()) }))
	}
	if g.Locks != nil {
		reg.MustRegister(lockCollector{holders: g.Locks})
	}
	if g.Build.Version != "" {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickerboard_build_info",
			Help: "Always 1; the labels say which build this instance runs.", ConstLabels: prometheus.Labels{
				"version": g.Build.Version, "goversion": g.Build.GoVersion, "revision": g.Build.Revision}},
			func() float64 { return 1 }))
	}
	if g.Leading != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickerboard_leader",
			Help: "1 while this instance holds the leader lock and runs the feeds and pruning."}, func() float64 {
			if g.Leading() {
				return 1
			}
			return 0
		}))
	}
	return m
}

func (m *metrics) observeLag(d time.Duration) { m.lag.Observe(d.Seconds()) }
