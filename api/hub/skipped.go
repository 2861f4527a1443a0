package hub

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// skips counts the events that could not be carried, by reason, and logs the first
// of each reason (never one line per event: a flood of bad rows must not flood the log).
type skips struct {
	logger *slog.Logger
	mu     sync.Mutex
	counts [skipReasons]int64
}

func (s *skips) add(err error) {
	var fe *FrameError
	if !errors.As(err, &fe) {
		fe = &FrameError{Reason: skipJSON}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range skipReasonNames {
		if r == fe.Reason {
			s.counts[i]++
			if s.counts[i] == 1 && s.logger != nil {
				s.logger.Warn("skipped an event that cannot be sent to viewers (further ones of this kind are only counted)",
					"id", fe.ID, "reason", fe.Reason)
			}
			return
		}
	}
}

// snapshot returns the counts by reason.
func (s *skips) snapshot() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, skipReasons)
	for i, r := range skipReasonNames {
		out[r] = s.counts[i]
	}
	return out
}

// skippedCollector exports a hub's skips as tickerboard_events_skipped_total{reason}.
type skippedCollector struct {
	hub  *Hub
	desc *prometheus.Desc
}

func (c skippedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c skippedCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.hub.Skipped() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), reason)
	}
}

// skippedDesc describes tickerboard_events_skipped_total{reason}.
var skippedDesc = prometheus.NewDesc("tickerboard_events_skipped_total",
	"Events from the log that could not be sent to viewers (bad name, key, size or JSON; id out of order), by reason. "+
		"Counted where read: by the live feed, and again by each catch-up from the log that meets them.",
	[]string{"reason"}, nil)
