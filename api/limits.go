package api

import "sync"

// Limits bounds how many streams the server holds.
type Limits struct {
	MaxStreams      int // in total; 0 means 10,000
	MaxStreamsPerIP int // per client address; 0 means no per-address limit
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
		return nil, "per-ip"
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
