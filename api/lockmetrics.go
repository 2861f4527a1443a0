package api

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickerboard/tickerboard/store"
)

var (
	lockHeldDesc = prometheus.NewDesc("tickerboard_lock_held_seconds",
		"Sessions holding the ordering or leader advisory lock, and for how long: the age of the holder's open transaction, "+
			"or of its session when it is idle outside one (an upper bound). The ordering lock is held for microseconds inside a "+
			"COMMIT; a series that persists means a session took it by hand and every writer waits.",
		[]string{"lock", "pid", "application"}, nil)
	lockWaitersDesc = prometheus.NewDesc("tickerboard_lock_waiters",
		"Sessions waiting for the ordering or leader advisory lock.", []string{"lock"}, nil)
)

// lockCollector asks Postgres who holds the locks when /metrics is scraped. A query
// that fails (bounded by store.LockTimeout) leaves both series out of that scrape.
type lockCollector struct {
	holders func(context.Context) ([]store.LockHolder, error)
}

func (c lockCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lockHeldDesc
	ch <- lockWaitersDesc
}

func (c lockCollector) Collect(ch chan<- prometheus.Metric) {
	hs, err := c.holders(context.Background())
	if err != nil {
		return
	}
	waiters := map[string]int{"ordering": 0, "leader": 0}
	for _, h := range hs {
		if !h.Granted {
			waiters[h.Lock]++
			continue
		}
		ch <- prometheus.MustNewConstMetric(lockHeldDesc, prometheus.GaugeValue, h.For.Seconds(),
			h.Lock, strconv.Itoa(int(h.PID)), h.Application)
	}
	for lock, n := range waiters {
		ch <- prometheus.MustNewConstMetric(lockWaitersDesc, prometheus.GaugeValue, float64(n), lock)
	}
}
