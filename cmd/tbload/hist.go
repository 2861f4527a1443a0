package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts latencies in log-linear buckets (HdrHistogram's layout: 32
// sub-buckets per power of two of microseconds, so any percentile is within about 3%),
// with atomic counters so thousands of client goroutines can record into a few shards
// without a lock.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64 // microseconds
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits) * histSub
)

func bucketOf(us int64) int {
	if us < histSub {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	exp := bits.Len64(uint64(us)) - histSubBits // ≥ 1
	return exp*histSub + int(uint64(us)>>(exp-1)) - histSub
}

// bucketTop is the largest value (in µs) that falls in bucket b.
func bucketTop(b int) int64 {
	if b < histSub {
		return int64(b)
	}
	exp := b / histSub
	mant := int64(b%histSub) + histSub
	return (mant+1)<<(exp-1) - 1
}

func (h *histogram) record(d time.Duration) {
	us := d.Microseconds()
	h.counts[bucketOf(us)].Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// latencies is a merged, immutable copy of histograms, for percentiles.
type latencies struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

func merge(hs []*histogram) *latencies {
	l := &latencies{}
	for _, h := range hs {
		for i := range h.counts {
			c := h.counts[i].Load()
			l.counts[i] += c
			l.n += c
		}
		l.max = max(l.max, h.max.Load())
	}
	return l
}

// sub is l minus an earlier copy of the same histograms: what was recorded in between.
func (l *latencies) sub(earlier *latencies) *latencies {
	d := &latencies{max: l.max}
	for i := range l.counts {
		d.counts[i] = l.counts[i] - earlier.counts[i]
		d.n += d.counts[i]
	}
	return d
}

// quantile returns the latency below which a fraction q of the samples fall (the top of
// its bucket, never above the maximum), in milliseconds; NaN when empty.
func (l *latencies) quantile(q float64) float64 {
	if l.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(l.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return float64(min(bucketTop(i), l.max)) / 1000
		}
	}
	return float64(l.max) / 1000
}

func (l *latencies) maxMs() float64 {
	if l.n == 0 {
		return math.NaN()
	}
	return float64(l.max) / 1000
}
