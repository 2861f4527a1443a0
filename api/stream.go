package api

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"
)

// StreamConfig paces and bounds the event streams.
type StreamConfig struct {
	Heartbeat    time.Duration // comment sent this often so proxies keep the stream open
	WriteTimeout time.Duration // a client whose socket accepts nothing this long is dropped
	Retry        time.Duration // reconnect delay hinted to browsers
	ConflateAt   int           // a client this many frames behind gets only the latest per key
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

// stream is one client's connection: a cursor into the hub's ring, and the id of the
// newest event the client is current to.
type stream struct {
	srv    *server
	w      http.ResponseWriter
	rc     *http.ResponseController
	filter Filter
	seq    uint64 // next ring sequence to read
	sent   int64  // the client has every matching event up to this id
	buf    []byte
	frames []*Frame
}

// serve runs the stream until the client leaves, the hub closes or a write fails.
func (st *stream) serve(ctx context.Context, resume int64, resuming bool) error {
	cfg := st.srv.stream
	seq, last := st.srv.hub.position()
	st.seq = seq
	st.buf = appendRetry(st.buf, cfg.Retry.Milliseconds())
	var err error
	if resuming {
		err = st.resume(ctx, resume, last)
	} else {
		err = st.snapshot(ctx, "")
	}
	if err != nil {
		return err
	}
	if err := st.flush(); err != nil {
		return err
	}

	heartbeat := time.NewTicker(cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		frames, next, overrun, wake, closed := st.srv.hub.read(st.seq, st.frames[:0], cfg.Batch)
		st.frames = frames
		switch {
		case closed:
			st.buf = appendComment(st.buf, "server shutting down; reconnect")
			return st.flush()
		case overrun:
			// Fell out of the ring: fetch what was missed from the log instead.
			st.srv.metrics.overruns.Inc()
			seq, last := st.srv.hub.position()
			st.seq = seq
			if err := st.catchUp(ctx, last); err != nil {
				return err
			}
			continue
		case len(frames) == 0:
			select {
			case <-wake:
			case <-ctx.Done():
				return nil
			case <-heartbeat.C:
				st.buf = appendComment(st.buf, "ping")
				if err := st.flush(); err != nil {
					return err
				}
			}
			continue
		}
		st.seq = next
		if err := st.send(ctx, frames); err != nil {
			return err
		}
		clear(st.frames) // drop references so old frames can be collected
	}
}

// send writes the frames the client wants. When the client has fallen far behind, only
// the newest frame of each quote and game is sent (plays and resets are never skipped).
func (st *stream) send(ctx context.Context, frames []*Frame) error {
	if len(frames) == 0 {
		return nil
	}
	lastID := frames[len(frames)-1].ID
	matched := frames[:0]
	for _, f := range frames {
		if f.ID > st.sent && st.filter.Match(f) {
			matched = append(matched, f)
		}
	}
	if len(matched) > st.srv.stream.ConflateAt {
		matched = st.srv.conflate(matched)
	}
	now := time.Now()
	written := 0
	for _, f := range matched {
		if f.ID <= st.sent {
			continue // covered by a snapshot sent after a reset
		}
		st.buf = append(st.buf, f.Bytes...)
		st.sent = f.ID
		written++
		st.srv.metrics.observeLag(now.Sub(f.Created))
		if f.Name == "reset" {
			if err := st.snapshot(ctx, ""); err != nil {
				return err
			}
		}
		if len(st.buf) >= flushAt {
			if err := st.flush(); err != nil {
				return err
			}
		}
	}
	st.srv.metrics.framesWritten.Add(float64(written))
	st.sent = max(st.sent, lastID)
	return st.flush()
}

// resume brings a client that reconnected with Last-Event-ID up to date: from the
// ring when it still holds the missed events, else from the log; or, when the log no
// longer has them (or never had), with a reset and a fresh snapshot.
func (st *stream) resume(ctx context.Context, after, hubLast int64) error {
	pos, err := st.srv.board.Position(ctx)
	if err != nil {
		return err
	}
	switch {
	case after > pos.Head:
		return st.snapshot(ctx, "unknown-id")
	case after < pos.Pruned:
		return st.snapshot(ctx, "retention")
	case pos.Head-after > st.srv.stream.MaxCatchUp:
		return st.snapshot(ctx, "too-far-behind")
	}
	st.sent = after
	if after >= hubLast {
		return nil // the ring will bring the rest; frames up to after are skipped
	}
	if seq, ok := st.srv.hub.seek(after); ok {
		st.seq = seq
		return nil
	}
	return st.catchUp(ctx, hubLast)
}

// catchUp sends the client's matching events from the log, after st.sent up to
// through, a batch per query.
func (st *stream) catchUp(ctx context.Context, through int64) error {
	for st.sent < through {
		events, err := st.srv.board.EventsAfter(ctx, st.sent, through, st.srv.stream.Batch)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			st.sent = through
			break
		}
		st.srv.metrics.catchUpEvents.Add(float64(len(events)))
		frames := make([]*Frame, len(events))
		for i, e := range events {
			frames[i] = NewFrame(e)
		}
		if err := st.send(ctx, frames); err != nil {
			return err
		}
	}
	return nil
}

// snapshot sends the board as it stands, preceded by a reset when the client's state
// must be thrown away. The snapshot's id is the event it is current to.
func (st *stream) snapshot(ctx context.Context, reason string) error {
	if reason != "" {
		st.srv.metrics.resets.Inc()
		st.buf = append(st.buf, `event: reset`+"\n"+`data: {"reason":"`...)
		st.buf = append(st.buf, reason...)
		st.buf = append(st.buf, "\"}\n\n"...)
	}
	id, data, err := st.srv.board.Snapshot(ctx, st.filter.snapshotFilter())
	if err != nil {
		return err
	}
	st.buf = appendIDEvent(st.buf, id, "snapshot", data)
	st.sent = max(st.sent, id)
	if reason != "" {
		st.sent = id
	}
	return nil
}

// flush writes what is buffered, giving the client WriteTimeout to take it.
func (st *stream) flush() error {
	if len(st.buf) == 0 {
		return nil
	}
	st.rc.SetWriteDeadline(time.Now().Add(st.srv.stream.WriteTimeout))
	_, err := st.w.Write(st.buf)
	if err == nil {
		err = st.rc.Flush()
	}
	st.srv.metrics.bytesWritten.Add(float64(len(st.buf)))
	if cap(st.buf) > 4*flushAt {
		st.buf = nil // don't let one burst pin a big buffer for the stream's life
	} else {
		st.buf = st.buf[:0]
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			st.srv.metrics.slowDisconnects.Inc()
			st.srv.logger.Info("dropped a slow client", "behind", st.srv.hub.Last()-st.sent)
		}
		return err
	}
	return nil
}

// conflate keeps, of frames in id order, every play and reset and only the newest
// frame of each quote and game.
func (s *server) conflate(frames []*Frame) []*Frame {
	type key struct{ name, key string }
	newest := make(map[key]int64, len(frames))
	for _, f := range frames {
		if f.state() {
			newest[key{f.Name, f.Key}] = f.ID
		}
	}
	out := frames[:0]
	for _, f := range frames {
		if !f.state() || newest[key{f.Name, f.Key}] == f.ID {
			out = append(out, f)
		}
	}
	s.metrics.conflated.Add(float64(len(frames) - len(out)))
	return out
}
