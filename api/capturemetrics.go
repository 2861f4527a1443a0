package api

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickerboard/tickerboard/store"
)

var (
	captureInfoDesc = prometheus.NewDesc("tickerboard_capture_info",
		"Always 1; mode says how committed changes become events: wal (decoded from the WAL by the leader) or triggers.",
		[]string{"mode"}, nil)
	captureActiveDesc = prometheus.NewDesc("tickerboard_capture_slot_active",
		"1 while a capture session streams from the WAL capture's replication slot. 0 with writes going on means "+
			"no instance captures: the slot keeps WAL and viewers see nothing new.", nil, nil)
	captureRetainedDesc = prometheus.NewDesc("tickerboard_capture_retained_wal_bytes",
		"WAL Postgres keeps for the WAL capture's slot (current LSN − restart_lsn). It grows while nobody captures; "+
			"past max_slot_wal_keep_size the slot is invalidated and viewers are reset.", nil, nil)
	captureLagDesc = prometheus.NewDesc("tickerboard_capture_lag_bytes",
		"How far the WAL capture's confirmed position trails the current LSN.", nil, nil)
)

// captureCollector asks Postgres about the capture when /metrics is scraped; a query
// that fails (bounded by store.LockTimeout) leaves the series out of that scrape.
type captureCollector struct {
	status func(context.Context) (store.CaptureStatus, error)
}

func (c captureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- captureInfoDesc
	ch <- captureActiveDesc
	ch <- captureRetainedDesc
	ch <- captureLagDesc
}

func (c captureCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.status(context.Background())
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(captureInfoDesc, prometheus.GaugeValue, 1, s.Mode)
	if s.Slot == "" {
		return
	}
	active := 0.0
	if s.Active {
		active = 1
	}
	ch <- prometheus.MustNewConstMetric(captureActiveDesc, prometheus.GaugeValue, active)
	ch <- prometheus.MustNewConstMetric(captureRetainedDesc, prometheus.GaugeValue, float64(s.RetainedBytes))
	ch <- prometheus.MustNewConstMetric(captureLagDesc, prometheus.GaugeValue, float64(s.LagBytes))
}
