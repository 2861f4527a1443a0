package hub

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// StreamConfig paces and bounds the event streams.
type StreamConfig struct {
	Heartbeat    time.Duration // heartbeat event sent this often so proxies keep the stream open
	WriteTimeout time.Duration // a client whose socket accepts nothing this long is dropped
	Retry        time.Duration // reconnect delay hinted to browsers
	ConflateAt   int           // a slow client this many frames behind gets only the latest per key
	MaxCatchUp   int64         // a resume further behind than this gets a fresh snapshot
	Batch        int           // events per catch-up query and per ring read
}

// DefaultStreamConfig is what a real deployment wants.
var DefaultStreamConfig = StreamConfig{
	Heartbeat:    15 * time.Second,
	WriteTimeout: 10 * time.Second,
	Retry:        2 * time.Second,
	ConflateAt:   256,
	MaxCatchUp:   100_000,
	Batch:        1000,
}

// flushAt is how many bytes a stream gathers before writing them to the socket.
const flushAt = 32 << 10

// errParked ends a stream's goroutine once a shard's worker serves it (fanout.go).
var errParked = errors.New("stream parked")

// stream is one client's connection: a cursor into the hub's ring, and the id of the
// newest event the client is current to. It starts in its net/http handler goroutine
// (snapshot, resume, catch-up); once caught up it takes the connection over and parks
// in the fan-out, which serves it without a goroutine until it falls behind.
type stream struct {
	h      *Hub
	w      http.ResponseWriter // nil once the connection is taken over
	rc     *http.ResponseController
	filter Filter
	seq    uint64 // next ring sequence to read
	sent   int64  // the client has every matching event up to this id
	// seen is the transactions the last snapshot sent already showed. Under the WAL
	// capture the log trails the tables, so events after the snapshot's id may be
	// of them; sending one would take the viewer back to older data.
	seen   store.Visibility
	buf    []byte
	frames []*Frame

	ctx       context.Context // the request's; once taken over, ended by hangup or Close
	cancel    context.CancelFunc
	release   func() // frees the stream's slot; called once, when it ends
	parkable  bool   // HTTP/1.x over a plain connection
	chunked   bool   // the response body is in HTTP/1.1 chunks
	conn      *sseConn
	forget    func() // stops the hangup watch
	lastWrite time.Time

	// Owned by the shard's mutex while parked.
	shard   *shard
	slot    int
	parked  bool
	pending []byte // what a non-blocking write could not send, framed for the wire

	// slow is set when the client's socket would not take a batch at once, or when
	// the stream fell out of the ring; it is cleared when the stream catches up. Only
	// a slow stream is conflated: a resume, or a burst to a client that keeps up, gets
	// exactly every event, parked or not.
	slow bool

	ended  bool
	joined bool // counted in the hub's live streams
}

// newStream is a stream for the request r, answered through w; release frees its
// slot when it ends, whichever goroutine ends it.
func newStream(h *Hub, w http.ResponseWriter, r *http.Request, filter Filter, release func()) *stream {
	return &stream{h: h, w: w, rc: http.NewResponseController(w), filter: filter, ctx: r.Context(),
		release: release, parkable: r.ProtoMajor == 1 && r.TLS == nil, chunked: r.ProtoAtLeast(1, 1)}
}

// Serve streams to the client of r, whose response headers w has sent, the events
// filter selects: a snapshot first, or, when resuming, what it missed after resume.
// It returns when the client leaves, the hub closes, or a write fails — or, once the
// stream is caught up and parked, at once (nil): the engine serves it from then on.
// release frees the stream's slot when it ends, whichever goroutine ends it.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, filter Filter, resume int64, resuming bool, release func()) error {
	return newStream(h, w, r, filter, release).serve(r.Context(), resume, resuming)
}

// serve runs the stream until the client leaves, the hub closes, a write fails, or it
// parks (nil: a worker serves it from now on and ends it).
func (st *stream) serve(ctx context.Context, resume int64, resuming bool) (err error) {
	st.ctx = ctx
	st.h.live.add(1)
	st.joined = true
	defer func() {
		if errors.Is(err, errParked) {
			err = nil
			return
		}
		st.finish(err)
	}()
	cfg := st.h.cfg
	seq, last := st.h.position()
	st.seq = seq
	// The retry field leads the first frame: a block of its own would be an empty
	// event to some clients. A resume with nothing to send yet leaves it to follow,
	// whose first frames, or first heartbeat, carry it.
	st.buf = appendRetry(st.buf, cfg.Retry.Milliseconds())
	lead := len(st.buf)
	if resuming {
		err = st.resume(ctx, resume, last)
	} else {
		err = st.snapshot(ctx, "")
	}
	if err != nil {
		return err
	}
	if len(st.buf) > lead {
		if err := st.flush(); err != nil {
			return err
		}
	}
	return st.follow()
}

// follow sends frames from the ring as they are published. It returns when the
// client leaves, the hub closes or a write fails, or errParked when, caught up, the
// stream has been handed to a shard's worker.
func (st *stream) follow() error {
	cfg := st.h.cfg
	heartbeat := time.NewTicker(cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		frames, next, overrun, wake, closed := st.h.read(st.seq, st.frames[:0], cfg.Batch)
		st.frames = frames
		switch {
		case closed:
			// A last comment, but shutdown waits for no client: one that cannot take it
			// within shutdownWrite is cut off (it reconnects all the same).
			st.buf = appendComment(st.buf, "server shutting down; reconnect")
			return st.flushWithin(min(shutdownWrite, st.h.cfg.WriteTimeout))
		case overrun:
			// Fell out of the ring: fetch what was missed from the log instead.
			st.h.metrics.overruns.Inc()
			st.slow = true // it could not keep up: what it missed may be conflated
			seq, last := st.h.position()
			st.seq = seq
			if err := st.catchUp(st.ctx, last); err != nil {
				return err
			}
			if err := st.flush(); err != nil { // a reset and snapshot, if the log was pruned
				return err
			}
			continue
		case len(frames) == 0:
			if len(st.buf) > 0 { // only the retry of a resume that had nothing to send
				st.buf = st.heartbeat(st.buf)
				if err := st.flush(); err != nil {
					return err
				}
			}
			st.slow = false // caught up
			if st.park() {
				return errParked
			}
			select {
			case <-wake:
			case <-st.ctx.Done():
				// The hub's close can end this context too (a stream taken over as the
				// engine stopped): then the next read sends the last comment.
				if !st.h.isClosed() {
					return nil
				}
			case <-heartbeat.C:
				st.buf = st.heartbeat(st.buf)
				if err := st.flush(); err != nil {
					return err
				}
			}
			continue
		}
		st.seq = next
		if err := st.send(st.ctx, frames); err != nil {
			return err
		}
		clear(st.frames) // drop references so old frames can be collected
	}
}

// send writes the frames the client wants (pick decides which), and after a reset
// the snapshot that must follow it.
func (st *stream) send(ctx context.Context, frames []*Frame) error {
	if len(frames) == 0 {
		return nil
	}
	lastID := frames[len(frames)-1].ID
	now := time.Now()
	written := 0
	for len(frames) > 0 {
		picked, used, reset := st.pick(frames[:0], frames, math.MaxInt) // in place: picked never overtakes frames
		frames = frames[used:]
		for _, f := range picked {
			st.buf = append(st.buf, f.Bytes...)
			st.sent = f.ID // after a rewind's reset, lower than before: the ids after it are new
			written++
			if !f.Created.IsZero() {
				st.h.metrics.observeLag(now.Sub(f.Created))
			}
			if len(st.buf) >= flushAt {
				if err := st.flush(); err != nil {
					return err
				}
			}
		}
		if reset {
			if err := st.snapshot(ctx, ""); err != nil {
				return err
			}
		}
	}
	st.h.metrics.framesWritten.Add(float64(written))
	st.sent = max(st.sent, lastID)
	return st.flush()
}

// resume brings a client that reconnected with Last-Event-ID up to date: from the
// ring when it still holds the missed events, else from the log; or, when the log no
// longer has them (or never had), with a reset and a fresh snapshot. So does an id that
// is a reset's own: clients of old took it from the reset's id line, before the
// snapshot that should follow.
func (st *stream) resume(ctx context.Context, after, hubLast int64) error {
	pos, err := st.h.board.Position(ctx)
	if err != nil {
		return err
	}
	switch {
	case after > pos.Head:
		return st.snapshot(ctx, "unknown-id")
	case after < pos.Pruned:
		return st.snapshot(ctx, "retention")
	case pos.Head-after > st.h.cfg.MaxCatchUp:
		return st.snapshot(ctx, "too-far-behind")
	}
	if after > pos.Pruned {
		at, err := st.h.board.EventsAfter(ctx, after-1, after, 1)
		if err != nil {
			return err
		}
		if len(at) == 1 && at[0].Name == "reset" {
			return st.snapshot(ctx, "reset")
		}
	}
	st.sent = after
	if after >= hubLast {
		return nil // the ring will bring the rest; frames up to after are skipped
	}
	if seq, ok := st.h.seek(after); ok {
		st.seq = seq
		return nil
	}
	return st.catchUp(ctx, hubLast)
}

// catchUp sends the client's matching events from the log, after st.sent up to
// through, a batch per query.
func (st *stream) catchUp(ctx context.Context, through int64) error {
	for st.sent < through {
		events, err := st.h.board.EventsAfter(ctx, st.sent, through, st.h.cfg.Batch)
		if err != nil {
			return err
		}
		// Retention may have pruned part of what was asked for before it was read, and
		// the log shows no hole where ids are missing. Pruning only moves forward, so
		// if the mark is still at or below st.sent now, the read was complete.
		pos, err := st.h.board.Position(ctx)
		if err != nil {
			return err
		}
		if pos.Pruned > st.sent {
			return st.snapshot(ctx, "retention")
		}
		if len(events) == 0 {
			st.sent = through
			break
		}
		st.h.metrics.catchUpEvents.Add(float64(len(events)))
		lastID := events[len(events)-1].ID
		frames := make([]*Frame, 0, len(events))
		for _, e := range events {
			f, err := NewFrame(e)
			if err != nil {
				st.h.skips.add(err) // skipped, but the client is past it all the same
				continue
			}
			frames = append(frames, f)
		}
		if err := st.send(ctx, frames); err != nil {
			return err
		}
		st.sent = max(st.sent, lastID)
	}
	return nil
}

// snapshot sends the board as it stands, in parts (appendSnapshot), preceded by a
// reset when the client's state must be thrown away. The reset has no id, so a client
// that drops before the snapshot's last part resumes from the id it had and is sent
// both again. The snapshot's id is the event it is current to.
func (st *stream) snapshot(ctx context.Context, reason string) error {
	if reason != "" {
		st.h.metrics.resets.Inc()
		data, _ := json.Marshal(struct {
			Reason string `json:"reason"`
		}{reason})
		st.buf, _ = appendEvent(st.buf, "", "reset", data) // cannot fail: a fixed name, no id
	}
	snap, err := st.h.board.Snapshot(ctx, st.filter.snapshotFilter())
	if err != nil {
		return err
	}
	st.buf = appendSnapshot(st.buf, snap)
	st.seen = snap.Visible
	st.sent = max(st.sent, snap.ID)
	if reason != "" {
		st.sent = snap.ID
	}
	return nil
}

// heartbeat appends a heartbeat event (appendHeartbeat).
func (st *stream) heartbeat(dst []byte) []byte {
	return appendHeartbeat(dst, time.Now(), st.h.Last(), st.h.cfg.Heartbeat)
}

// flush writes what is buffered, giving the client WriteTimeout to take it.
func (st *stream) flush() error { return st.flushWithin(st.h.cfg.WriteTimeout) }

// shutdownWrite bounds how long a stream's last comment may take when the server stops.
const shutdownWrite = time.Second

// flushWithin is flush with a given write timeout.
func (st *stream) flushWithin(timeout time.Duration) error {
	if len(st.buf) == 0 {
		return nil
	}
	now := time.Now()
	var err error
	if st.conn != nil {
		err = st.conn.write(st.buf, timeout)
	} else {
		st.rc.SetWriteDeadline(now.Add(timeout))
		_, err = st.w.Write(st.buf)
		if err == nil {
			err = st.rc.Flush()
		}
	}
	st.lastWrite = now
	st.h.metrics.bytesWritten.Add(float64(len(st.buf)))
	if cap(st.buf) > 4*flushAt {
		st.buf = nil // don't let one burst pin a big buffer for the stream's life
	} else {
		st.buf = st.buf[:0]
	}
	return st.wrote(err)
}

// wrote counts and logs a client dropped for being too slow to take what was written.
func (st *stream) wrote(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && st.ctx.Err() == nil {
		st.h.metrics.slowDisconnects.Inc()
		st.h.logger.Info("dropped a slow client", "behind", st.h.Last()-st.sent)
	}
	return err
}
