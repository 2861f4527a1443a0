package hub

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/tickerboard/tickerboard/store"
)

// Hub fans committed events out to every stream on this instance. It keeps a ring of
// the most recent frames, bounded in count and in bytes; each stream holds only a
// cursor into it, so publishing costs the same for 10 or 10,000 subscribers, and a
// batch wakes each stream once. The ring is a cache of the Postgres log, not the
// truth: a stream that falls out of it catches up from the database.
type Hub struct {
	mu       sync.RWMutex
	ring     []*Frame
	first    uint64 // sequence number of the oldest frame held
	next     uint64 // sequence number of the next frame published
	floor    uint64 // readers behind it skip to it: what was before a rewind is void
	bytes    int64  // what the held frames cost (Frame.size)
	maxBytes int64
	last     int64 // id of the newest event published (carried or skipped)
	base     int64 // id below the oldest frame still in the ring
	wake     chan struct{}
	closed   bool
	portable bool // never park: Start starts nothing

	skips skips
	fan   *fanout   // the streams parked without a goroutine
	live  liveCount // streams that have not ended, parked or not

	board   Board // snapshots and catch-up reads
	cfg     StreamConfig
	metrics *metrics
	logger  *slog.Logger
}

// Board is what streams read from the database: the log's bounds, its events, and the
// board as it stands.
type Board interface {
	Position(ctx context.Context) (store.Position, error)
	EventsAfter(ctx context.Context, after, through int64, limit int) ([]store.Event, error)
	Snapshot(ctx context.Context, f store.Filter) (store.Snapshot, error)
}

// liveCount counts what has not ended and tells when nothing is left.
type liveCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n reaches 0; made on demand
}

func (c *liveCount) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.n == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
}

// none returns a channel closed once nothing is left.
func (c *liveCount) none() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if c.zero == nil {
		c.zero = make(chan struct{})
	}
	return c.zero
}

// DefaultHubBytes is the ring's default byte budget.
const DefaultHubBytes = 64 << 20

// minHubBytes keeps a budget from being smaller than a few of the largest frames.
const minHubBytes = 1 << 20

// Option adjusts a Hub.
type Option func(*Hub)

// WithMaxBytes bounds the bytes of the frames the ring holds (at least 1 MiB): past
// it, the oldest are dropped, whatever the ring's count.
func WithMaxBytes(n int64) Option {
	return func(h *Hub) { h.maxBytes = max(n, minHubBytes) }
}

// WithoutParking keeps every stream in its own goroutine, as where there is no epoll:
// the portable path, for tests that prove it delivers what the parked one does.
func WithoutParking() Option { return func(h *Hub) { h.portable = true } }

// WithLogger is where the hub says, once per reason, that it skipped an event, and
// that it dropped a slow client.
func WithLogger(l *slog.Logger) Option {
	return func(h *Hub) { h.skips.logger, h.logger = l, l }
}

// WithBoard is where streams read snapshots and catch up; a hub without one can
// publish but not serve streams.
func WithBoard(b Board) Option { return func(h *Hub) { h.board = b } }

// WithStreamConfig paces and bounds the streams (DefaultStreamConfig otherwise).
func WithStreamConfig(c StreamConfig) Option { return func(h *Hub) { h.cfg = c } }

// New returns a hub whose log starts after event id last, keeping at most size
// frames and DefaultHubBytes of them (see WithMaxBytes).
func New(last int64, size int, opts ...Option) *Hub {
	if size < 16 {
		size = 16
	}
	h := &Hub{ring: make([]*Frame, size), maxBytes: DefaultHubBytes, last: last, base: last, wake: make(chan struct{}),
		cfg: DefaultStreamConfig, metrics: newMetrics(), logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(h)
	}
	if h.cfg == (StreamConfig{}) {
		h.cfg = DefaultStreamConfig
	}
	h.fan = newFanout(h)
	return h
}

// Publish encodes events (in id order, all newer than any before) and wakes every
// stream. An event that cannot be carried (NewFrame's error) is skipped and counted,
// but its id still counts as published, so resuming past it works. A reset whose id is
// not above the newest is a rewind (the log's ids went backwards): the ring is
// emptied, and every stream sends it and a fresh snapshot.
func (h *Hub) Publish(events []store.Event) {
	if len(events) == 0 {
		return
	}
	frames := make([]*Frame, len(events))
	for i, e := range events {
		f, err := NewFrame(e)
		if err != nil {
			h.skips.add(err)
			continue
		}
		frames[i] = f
	}
	h.mu.Lock()
	for i, f := range frames {
		switch {
		case f == nil:
			h.last = max(h.last, events[i].ID)
			continue
		case f.ID <= h.last && f.Name == "reset":
			h.rewind(f)
		case f.ID <= h.last:
			h.skips.add(&FrameError{ID: f.ID, Reason: skipOrder})
			continue
		}
		h.push(f)
		h.last = f.ID
	}
	if !h.closed { // Close closed wake for good; the notifier may still be finishing a batch
		close(h.wake)
		h.wake = make(chan struct{})
	}
	h.mu.Unlock()
	h.fan.kick()
}

// push appends f to the ring, first dropping the oldest frames while the ring is full
// or f would take it over its byte budget.
func (h *Hub) push(f *Frame) {
	n := uint64(len(h.ring))
	for h.first < h.next && (h.next-h.first >= n || h.bytes+f.size() > h.maxBytes) {
		h.evict()
	}
	h.ring[h.next%n] = f
	h.bytes += f.size()
	h.next++
}

func (h *Hub) evict() {
	slot := h.first % uint64(len(h.ring))
	old := h.ring[slot]
	h.base = old.ID
	h.bytes -= old.size()
	h.ring[slot] = nil
	h.first++
}

// rewind empties the ring for the reset f, whose id is not above the newest: streams
// at any position read on from f.
func (h *Hub) rewind(f *Frame) {
	for h.first < h.next {
		h.evict()
	}
	h.floor = h.next
	h.base = f.ID
	f.rewind = true
}

// Skipped counts the events Publish could not carry, by reason.
func (h *Hub) Skipped() map[string]int64 { return h.skips.snapshot() }

// held reports how many frames the ring holds and what they cost in bytes.
func (h *Hub) held() (frames int, bytes int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return int(h.next - h.first), h.bytes
}

// Start runs the engine's own goroutines: the workers that serve parked streams and
// the hangup watcher. The owner calls it once, before serving, and Close stops them.
// Without Start (or where it fails: no epoll) nothing parks and every stream keeps its
// goroutine: the portable path, slower but the same stream.
func (h *Hub) Start() error {
	if h.portable {
		return nil
	}
	if err := h.fan.start(); err != nil {
		return fmt.Errorf("start the fan-out (streams keep their goroutines): %w", err)
	}
	return nil
}

// Close ends every stream with a last comment and stops the engine's goroutines. A
// stream whose client has not taken its last bytes when ctx ends is cut off, so a
// client reading a trickle cannot hold a shutdown. It returns ctx's error if streams
// served by net/http's goroutines are still writing then (closing the server's
// connections ends them; Wait waits for that). It may be called again.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.wake)
	}
	h.mu.Unlock()
	h.fan.close(ctx)
	select {
	case <-h.live.none():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("streams still open at the shutdown deadline: %w", ctx.Err())
	}
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// Wait returns when every stream has ended.
func (h *Hub) Wait() { <-h.live.none() }

// Last is the id of the newest frame published.
func (h *Hub) Last() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.last
}

// WaitFor blocks until the hub has published event id (or a later one), the hub
// closes, or ctx ends; it reports whether the event was reached.
func (h *Hub) WaitFor(ctx context.Context, id int64) bool {
	for {
		h.mu.RLock()
		last, wake, closed := h.last, h.wake, h.closed
		h.mu.RUnlock()
		if last >= id {
			return true
		}
		if closed {
			return false
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// position is where a new subscriber starts: the next sequence number and the id of
// the newest frame already published (which it will not see from the ring).
func (h *Hub) position() (seq uint64, last int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.next, h.last
}

// seek returns the sequence number of the first frame with an id above after, if the
// ring still holds everything published after it.
func (h *Hub) seek(after int64) (seq uint64, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if after < h.base {
		return 0, false
	}
	n := uint64(len(h.ring))
	i := sort.Search(int(h.next-h.first), func(i int) bool {
		return h.ring[(h.first+uint64(i))%n].ID > after
	})
	return h.first + uint64(i), true
}

// read appends to dst the frames from sequence seq on, at most max of them. It returns
// the next sequence to read, whether seq had already left the ring (overrun: the caller
// must catch up from the database), the channel closed at the next publish, and
// whether the hub is closed. A seq from before a rewind reads on from the rewind.
func (h *Hub) read(seq uint64, dst []*Frame, limit int) (out []*Frame, next uint64, overrun bool, wake <-chan struct{}, closed bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	seq = max(seq, h.floor)
	if seq < h.first {
		return dst, seq, true, h.wake, h.closed
	}
	n := uint64(len(h.ring))
	for ; seq < h.next && len(dst) < limit; seq++ {
		dst = append(dst, h.ring[seq%n])
	}
	return dst, seq, false, h.wake, h.closed
}

// window appends to dst the frames from sequence from on, at most max of them,
// starting instead at the oldest frame still in the ring if from has left it. It
// returns the frames, the sequence of the first, whether more were published after
// them, and whether the hub is closed.
func (h *Hub) window(from uint64, dst []*Frame, limit int) (frames []*Frame, start uint64, more, closed bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := uint64(len(h.ring))
	from = max(from, h.first)
	seq := from
	for ; seq < h.next && len(dst) < limit; seq++ {
		dst = append(dst, h.ring[seq%n])
	}
	return dst, from, seq < h.next, h.closed
}
