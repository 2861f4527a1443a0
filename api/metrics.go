package api

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tickerboard/tickerboard/api/hub"
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
	// Capture reads the capture mode and its replication slot, asked at scrape time
	// (store.Store.CaptureStatus).
	Capture func(context.Context) (store.CaptureStatus, error)
	// Build labels tickerboard_build_info, so a dashboard shows which build each
	// instance runs; without a Version there is no such metric.
	Build BuildInfo
}

// BuildInfo is the binary's version, the Go toolchain that built it and its commit.
type BuildInfo struct{ Version, GoVersion, Revision string }

// metrics is one server's instruments, in its own registry so several servers can run
// in one process (as the tests do).
type metrics struct {
	reg      *prometheus.Registry
	clients  prometheus.Gauge
	rejected *prometheus.CounterVec
}

func newMetrics(g Gauges) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg:     reg,
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tickerboard_clients", Help: "Connected SSE clients."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tickerboard_streams_rejected_total",
			Help: "Stream requests refused, by reason."}, []string{"reason"}),
	}
	reg.MustRegister(m.clients, m.rejected,
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
	if g.Capture != nil {
		reg.MustRegister(captureCollector{status: g.Capture})
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

// withHub registers the engine's own instruments.
func (m *metrics) withHub(h *hub.Hub) *metrics {
	if h != nil {
		m.reg.MustRegister(h.Collectors()...)
	}
	return m
}
