package api

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// Topic bits, as named in ?topics=.
const (
	topicPrice uint8 = 1 << iota // price events
	topicScore                   // score and play events
	topicAll   = topicPrice | topicScore
)

// Frame is one event encoded once for the wire and shared, by reference, by every
// subscriber that wants it.
type Frame struct {
	ID      int64
	Name    string
	Key     string // the symbol of a price, the game id of a score or play
	Game    int64  // Key parsed, for score and play
	Topic   uint8
	Created time.Time // when the change committed
	Bytes   []byte    // the whole SSE frame
}

// state reports whether the frame carries the latest state of its key (a quote or a
// game), so a slow client may skip older frames of the same key.
func (f *Frame) state() bool { return f.Name == "price" || f.Name == "score" }

// NewFrame encodes e.
func NewFrame(e store.Event) *Frame {
	f := &Frame{ID: e.ID, Name: e.Name, Key: e.Key, Created: e.CreatedAt}
	switch e.Name {
	case "price":
		f.Topic = topicPrice
	case "score", "play":
		f.Topic = topicScore
		f.Game, _ = strconv.ParseInt(e.Key, 10, 64)
	default:
		f.Topic = topicAll
	}
	f.Bytes = appendIDEvent(make([]byte, 0, len(e.Payload)+len(e.Name)+32), e.ID, e.Name, e.Payload)
	return f
}

// Hub fans committed events out to every stream on this instance. It keeps a ring of
// the most recent frames; each stream holds only a cursor into it, so publishing costs
// the same for 10 or 10,000 subscribers, and a batch wakes each stream once. The ring
// is a cache of the Postgres log, not the truth: a stream that falls out of it catches
// up from the database.
type Hub struct {
	mu     sync.RWMutex
	ring   []*Frame
	next   uint64 // sequence number of the next frame published
	last   int64  // id of the newest frame published
	base   int64  // id below the oldest frame still in the ring
	wake   chan struct{}
	closed bool

	fan *fanout // the streams parked without a goroutine
}

// NewHub returns a hub whose log starts after event id last, keeping size frames.
func NewHub(last int64, size int) *Hub {
	if size < 16 {
		size = 16
	}
	h := &Hub{ring: make([]*Frame, size), last: last, base: last, wake: make(chan struct{})}
	h.fan = newFanout(h)
	return h
}

// Publish encodes events (in id order, all newer than any before) and wakes every stream.
func (h *Hub) Publish(events []store.Event) {
	if len(events) == 0 {
		return
	}
	frames := make([]*Frame, len(events))
	for i, e := range events {
		frames[i] = NewFrame(e)
	}
	h.mu.Lock()
	for _, f := range frames {
		slot := h.next % uint64(len(h.ring))
		if old := h.ring[slot]; old != nil {
			h.base = old.ID
		}
		h.ring[slot] = f
		h.next++
	}
	h.last = frames[len(frames)-1].ID
	if !h.closed { // Close closed wake for good; the notifier may still be finishing a batch
		close(h.wake)
		h.wake = make(chan struct{})
	}
	h.mu.Unlock()
	h.fan.kick()
}

// Close ends every stream with a last comment. It returns when the streams the hub
// serves without a goroutine of their own have ended, and may be called again.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.wake)
	}
	h.mu.Unlock()
	h.fan.close()
}

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
	oldest := uint64(0)
	if h.next > n {
		oldest = h.next - n
	}
	i := sort.Search(int(h.next-oldest), func(i int) bool {
		return h.ring[(oldest+uint64(i))%n].ID > after
	})
	return oldest + uint64(i), true
}

// read appends to dst the frames from sequence seq on, at most max of them. It returns
// the next sequence to read, whether seq had already left the ring (overrun: the caller
// must catch up from the database), the channel closed at the next publish, and
// whether the hub is closed.
func (h *Hub) read(seq uint64, dst []*Frame, max int) (out []*Frame, next uint64, overrun bool, wake <-chan struct{}, closed bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := uint64(len(h.ring))
	if h.next > n && seq < h.next-n {
		return dst, seq, true, h.wake, h.closed
	}
	for ; seq < h.next && len(dst) < max; seq++ {
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
	if h.next > n {
		from = max(from, h.next-n)
	}
	seq := from
	for ; seq < h.next && len(dst) < limit; seq++ {
		dst = append(dst, h.ring[seq%n])
	}
	return dst, from, seq < h.next, h.closed
}
