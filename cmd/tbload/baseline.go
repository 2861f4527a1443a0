package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The baseline: "what plain Go gives you", written as a careful engineer would in a few
// dozen lines, so Tickerboard is compared with a fair peer, not a strawman. A minimal
// net/http SSE broadcaster with no database: a map of per-client buffered channels under
// a mutex; publishing sends each event to every channel (dropping it for a client whose
// channel is full); each handler goroutine writes everything its channel holds and
// flushes once per wake-up. Events are encoded once and shared. It is fed in-process, at
// the rate and batch size the publisher asks for, with price events shaped like
// Tickerboard's, so the same clients measure both the same way.

// broadcaster is the baseline server's state.
type broadcaster struct {
	mu      sync.Mutex
	clients map[chan []byte]struct{}
	volumes []int64
	nextID  int64
	dropped atomic.Int64
}

func newBroadcaster(symbols int) *broadcaster {
	return &broadcaster{clients: make(map[chan []byte]struct{}), volumes: make([]int64, symbols)}
}

func (b *broadcaster) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", b.serveEvents)
	mux.HandleFunc("POST /control/publish", b.servePublish)
	mux.HandleFunc("GET /control/state", b.serveState)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

// serveEvents is the whole stream: a snapshot, then the events, a flush per wake-up.
func (b *broadcaster) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan []byte, 256)
	b.mu.Lock()
	snapshot := b.snapshotLocked()
	b.clients[ch] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.clients, ch)
		b.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(snapshot); err != nil {
		return
	}
	flusher.Flush()
	for {
		select {
		case msg := <-ch:
			// What a careful engineer writes: everything already queued goes out in one
			// flush (one syscall), not one flush per event, so a burst costs the
			// broadcaster a write per client rather than per event.
			if _, err := w.Write(msg); err != nil {
				return
			}
		drain:
			for range cap(ch) {
				select {
				case more := <-ch:
					if _, err := w.Write(more); err != nil {
						return
					}
				default:
					break drain
				}
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func (b *broadcaster) snapshotLocked() []byte {
	type quote struct {
		Symbol string `json:"symbol"`
		Volume int64  `json:"volume"`
	}
	snap := struct {
		ID     int64   `json:"id"`
		Part   int     `json:"part"`
		Parts  int     `json:"parts"`
		Quotes []quote `json:"quotes"`
		Games  []any   `json:"games"`
		Plays  []any   `json:"plays"`
	}{ID: b.nextID, Part: 1, Parts: 1, Games: []any{}, Plays: []any{}} // one part: the load tool's boards are small
	for i, v := range b.volumes {
		snap.Quotes = append(snap.Quotes, quote{symbolName(i), v})
	}
	data, _ := json.Marshal(snap)
	out := []byte("retry: 2000\nid: " + strconv.FormatInt(b.nextID, 10) + "\nevent: snapshot\ndata: ")
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// publish moves n symbols, round robin from *next, one event each.
func (b *broadcaster) publish(n int, next *int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range n {
		i := *next % len(b.volumes)
		*next++
		b.volumes[i]++
		b.nextID++
		msg := encodeBaselineQuote(b.nextID, i, b.volumes[i], time.Now())
		for ch := range b.clients {
			select {
			case ch <- msg:
			default:
				b.dropped.Add(1)
			}
		}
	}
}

// encodeBaselineQuote is a price frame shaped like Postgres' quote_json, with the same
// fields in the same order and about the same size.
func encodeBaselineQuote(id int64, sym int, volume int64, now time.Time) []byte {
	price := 100 + float64(volume%1000)/100
	b := make([]byte, 0, 320)
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, "\nevent: price\ndata: {\"name\": \"tbload\", \"price\": "...)
	b = strconv.AppendFloat(b, price, 'f', 4, 64)
	b = append(b, ", \"change\": "...)
	b = strconv.AppendFloat(b, price-100, 'f', 4, 64)
	b = append(b, ", \"symbol\": \""...)
	b = append(b, symbolName(sym)...)
	b = append(b, "\", \"volume\": "...)
	b = strconv.AppendInt(b, volume, 10)
	b = append(b, ", \"day_low\": 100.0000, \"day_high\": 110.0000, \"day_open\": 100.0000, \"change_pct\": "...)
	b = strconv.AppendFloat(b, price-100, 'f', 4, 64)
	b = append(b, ", \"prev_close\": 100.0000, \"updated_at\": \""...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000-07:00")
	return append(b, "\"}\n\n"...)
}

// publishReport is the control endpoint's answer.
type publishReport struct {
	Published int64   `json:"published"`
	Dropped   int64   `json:"dropped"` // deliveries dropped for full client channels, ever
	Volumes   []int64 `json:"volumes"`
}

// servePublish runs the publisher in-process at ?rate= events/s in ticks of ?batch=
// events for ?duration=, and answers when done.
func (b *broadcaster) servePublish(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rate, err1 := strconv.ParseFloat(q.Get("rate"), 64)
	batch, err2 := strconv.Atoi(q.Get("batch"))
	d, err3 := time.ParseDuration(q.Get("duration"))
	if err := errors.Join(err1, err2, err3); err != nil || rate <= 0 || batch < 1 || d <= 0 {
		http.Error(w, "want rate>0, batch>=1, duration>0", http.StatusBadRequest)
		return
	}
	next := 0
	published, err := pace(r.Context(), rate, batch, d, func(n int) error {
		b.publish(n, &next)
		return nil
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	b.writeState(w, published)
}

// serveState reports the volumes and how many deliveries were dropped so far.
func (b *broadcaster) serveState(w http.ResponseWriter, r *http.Request) { b.writeState(w, 0) }

func (b *broadcaster) writeState(w http.ResponseWriter, published int64) {
	b.mu.Lock()
	rep := publishReport{Published: published, Dropped: b.dropped.Load(), Volumes: append([]int64(nil), b.volumes...)}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// runBaselineServer is `tbload baseline-server`: the baseline in a process of its
// own, so its CPU and memory can be read from /proc like Tickerboard's.
func runBaselineServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tbload baseline-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	symbols := fs.Int("symbols", 100, "how many TB symbols to publish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *symbols < 1 || *symbols > 9999 {
		return fmt.Errorf("-symbols %d: want 1 to 9999", *symbols)
	}
	raiseFileLimit()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: newBroadcaster(*symbols).routes(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close() // streams never go idle
	}
	<-errc
	return nil
}
