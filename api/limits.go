package api

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tickerboard/tickerboard/api/hub"
)

// Limits bounds how many streams the server holds.
type Limits struct {
	MaxStreams      int // in total; 0 means 10,000
	MaxStreamsPerIP int // per client address; 0 means no per-address limit
}

// Refusal retry window: a refused client is told to come back after a delay drawn
// from [RefusalRetryMin, RefusalRetryMax], so a crowd turned away at once does not
// return at once.
const (
	RefusalRetryMin = 3 * time.Second
	RefusalRetryMax = 6 * time.Second
)

// unavailable is the data of the "unavailable" event a refused stream receives.
type unavailable struct {
	Reason  string `json:"reason"` // "full"
	Limit   string `json:"limit"`  // "total" or "per-address"
	RetryMS int64  `json:"retry_ms"`
	Message string `json:"message"`
}

// refuse answers a stream the server has no room for. Not with a 503 or 429: the
// EventSource spec fails a connection for good on any status but 200, so browsers,
// Node's eventsource and go-sse would never come back. Instead a 200 event stream
// carries one block — a retry: delay and an "unavailable" event saying why — and
// ends; every spec-following client reconnects after the delay, keeping its
// Last-Event-ID. The event has no id, so that id is left as it was.
func (s *server) refuse(w http.ResponseWriter, limit string) {
	spread := int64(RefusalRetryMax - RefusalRetryMin)
	retry := (RefusalRetryMin + time.Duration(rand.Int64N(spread+1))).Milliseconds()
	data, _ := json.Marshal(unavailable{Reason: "full", Limit: limit, RetryMS: retry,
		Message: "this instance is serving as many streams as it may (" + limit + " limit); retrying shortly"})
	// AppendRetry writes a field line, no blank line: the delay travels in the same
	// block as the event, and no client dispatches an empty event for it.
	buf := hub.AppendRetry(nil, retry)
	buf, _ = hub.AppendEvent(buf, "unavailable", data) // a fixed name: cannot fail
	startStream(w)
	w.Write(buf)
}

type limiter struct {
	mu    sync.Mutex
	lim   Limits
	total int
	perIP map[string]int
}

func newLimiter(l Limits) *limiter {
	if l.MaxStreams <= 0 {
		l.MaxStreams = 10_000
	}
	return &limiter{lim: l, perIP: make(map[string]int)}
}

// acquire reserves a stream slot for ip, or returns nil and the limit that refused it.
func (l *limiter) acquire(ip string) (release func(), reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.lim.MaxStreams {
		return nil, "total"
	}
	if l.lim.MaxStreamsPerIP > 0 && l.perIP[ip] >= l.lim.MaxStreamsPerIP {
		return nil, "per-address"
	}
	l.total++
	l.perIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.perIP[ip]--; l.perIP[ip] <= 0 {
				delete(l.perIP, ip)
			}
		})
	}, ""
}
