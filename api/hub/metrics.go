package hub

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's instruments. They belong to one hub (tests run several in
// one process); the HTTP side registers them with Collectors.
type metrics struct {
	framesWritten   prometheus.Counter
	bytesWritten    prometheus.Counter
	conflated       prometheus.Counter
	slowDisconnects prometheus.Counter
	overruns        prometheus.Counter
	drains          prometheus.Counter
	parked          prometheus.Gauge
	resets          prometheus.Counter
	catchUpEvents   prometheus.Counter
	lag             prometheus.Histogram
}

func newMetrics() *metrics {
	f := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "tickerboard_" + name, Help: help})
	}
	return &metrics{
		framesWritten:   f("frames_written_total", "Event frames written to SSE clients."),
		bytesWritten:    f("bytes_written_total", "Bytes written to SSE clients."),
		conflated:       f("frames_conflated_total", "Frames skipped for slow clients because a newer frame of the same quote or game replaced them."),
		slowDisconnects: f("slow_client_disconnects_total", "Clients dropped because their socket accepted nothing within the write timeout."),
		overruns:        f("ring_overruns_total", "Times a client fell out of the in-memory ring and caught up from Postgres."),
		drains:          f("stream_drains_total", "Times a parked stream's socket would not take a batch at once, so the stream got a goroutine to drain it."),
		parked:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "tickerboard_streams_parked", Help: "Caught-up streams served without a goroutine of their own."}),
		resets:          f("resets_total", "Streams sent a reset and fresh snapshot (resume point pruned, unknown or too far behind)."),
		catchUpEvents:   f("catchup_events_total", "Events read from Postgres to catch up resuming or slow clients."),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tickerboard_commit_to_send_seconds",
			Help:    "Time from a change's commit in Postgres to its frame being written to a client.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
	}
}

func (m *metrics) observeLag(d time.Duration) { m.lag.Observe(d.Seconds()) }

// Collectors are the hub's instruments and its skip counts, for a registry.
func (h *Hub) Collectors() []prometheus.Collector {
	m := h.metrics
	return []prometheus.Collector{m.framesWritten, m.bytesWritten, m.conflated, m.slowDisconnects, m.overruns,
		m.drains, m.parked, m.resets, m.catchUpEvents, m.lag, skippedCollector{hub: h, desc: skippedDesc}}
}
