package hub

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// fanout serves the streams that have caught up without a goroutine each. A stream
// that has read the ring to its head takes its connection over from net/http (so the
// handler goroutine, its stack and net/http's buffers go away) and is "parked" in a
// shard. On every publish, each shard's worker writes the new frames to all of its
// streams: frames matched once per filter and sequence, bytes shared between streams
// that want the same, one non-blocking write(2) per stream. A stream whose socket
// cannot take a batch at once, that fell out of the ring, or that must be sent a
// snapshot gets a goroutine again ("drain", stream.unpark) until it has caught up, so
// a slow client never holds up the others. One epoll goroutine notices clients that
// leave (hangup_linux.go).
type fanout struct {
	hub    *Hub
	shards []*shard
	next   atomic.Uint32 // round-robin shard for the next stream

	mu       sync.Mutex // guards everything below; taken before a shard's mutex
	closed   bool
	started  bool
	hangups  hangupWatcher        // nil where streams cannot be taken over
	conns    map[*stream]struct{} // every taken-over stream, to cut at the shutdown deadline
	cutAll   bool                 // the deadline has passed: streams taken over now are cut at once
	stop     chan struct{}
	finished chan struct{} // closed when close has ended every parked stream

	ctx    context.Context // parent of every taken-over stream's context
	cancel context.CancelFunc
	wg     sync.WaitGroup // workers and drains
}

// maxWindow bounds how many frames one pass reads from the ring; a shard further
// behind makes several passes.
const maxWindow = 1024

// heartbeatCheck is how often workers look for parked streams due a heartbeat.
const heartbeatCheck = 250 * time.Millisecond

func newFanout(h *Hub) *fanout {
	f := &fanout{hub: h, stop: make(chan struct{}), finished: make(chan struct{}), conns: make(map[*stream]struct{})}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	n := min(max(runtime.GOMAXPROCS(0), 1), 16)
	for range n {
		f.shards = append(f.shards, &shard{f: f, kick: make(chan struct{}, 1), cache: make(map[shareKey]shared)})
	}
	return f
}

// kick tells every worker that frames were published.
func (f *fanout) kick() {
	for _, sh := range f.shards {
		sh.wake()
	}
}

// start runs the workers and the hangup watcher. Where there is no watcher (not
// Linux, or epoll failed) nothing starts and streams keep their goroutines.
func (f *fanout) start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.started {
		return nil
	}
	f.started = true
	h, err := newHangups()
	if err != nil {
		return err
	}
	f.hangups = h
	for _, sh := range f.shards {
		f.wg.Add(1)
		go sh.run()
	}
	return nil
}

// ready reports whether streams can be taken over: the engine was started, with a
// hangup watcher, and is not closed.
func (f *fanout) ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.closed && f.hangups != nil
}

// adopt records a taken-over stream until it ends, so the shutdown deadline can cut
// it; one taken over after the cut is cut at once.
func (f *fanout) adopt(st *stream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[st] = struct{}{}
	if f.cutAll {
		st.conn.cut()
	}
}

// release forgets a taken-over stream that ended.
func (f *fanout) release(st *stream) {
	f.mu.Lock()
	delete(f.conns, st)
	f.mu.Unlock()
}

// cut fails every write and read on the taken-over connections still open, now and
// for good, and cancels their queries: the shutdown deadline has passed.
func (f *fanout) cut() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cutAll = true
	for st := range f.conns {
		st.conn.cut()
	}
	f.cancel()
	return len(f.conns)
}

// shardFor picks the shard a taken-over stream belongs to for its whole life.
func (f *fanout) shardFor() *shard {
	return f.shards[int(f.next.Add(1))%len(f.shards)]
}

// park hands a caught-up, taken-over stream to its shard's worker. It fails when the
// hub is closed or the client has already gone; the caller then ends the stream.
func (f *fanout) park(st *stream) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	sh := st.shard
	sh.mu.Lock()
	if st.ctx.Err() != nil {
		sh.mu.Unlock()
		return false
	}
	st.parked = true
	st.h.metrics.parked.Inc()
	st.slot = len(sh.streams)
	sh.streams = append(sh.streams, st)
	sh.mu.Unlock()
	sh.wake() // frames may have been published since the stream last read the ring
	return true
}

// drain gives a stream that left its shard a goroutine of its own.
func (f *fanout) drain(st *stream) {
	st.h.metrics.drains.Inc()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		st.unpark()
	}()
}

// close ends every parked stream with a last comment and waits for the workers, the
// streams that were draining (cut when ctx ends) and the hangup watcher.
func (f *fanout) close(ctx context.Context) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		<-f.finished
		return
	}
	f.closed = true
	close(f.stop)
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, sh := range f.shards {
		sh.mu.Lock()
		streams := sh.streams
		sh.streams = nil
		for _, st := range streams {
			st.parked = false
			st.h.metrics.parked.Dec()
		}
		sh.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range streams {
				st.shutdown()
			}
		}()
	}
	wg.Wait()
	drained := make(chan struct{})
	go func() { f.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		f.cut()
		<-drained
	}
	f.cancel()
	if f.hangups != nil {
		f.hangups.close()
	}
	close(f.finished)
}

// shard is a set of parked streams and the worker that writes to them.
type shard struct {
	f    *fanout
	kick chan struct{}

	mu      sync.Mutex // held by the worker for a whole pass
	streams []*stream

	// Scratch, reused by every pass.
	frames  []*Frame
	matched []*Frame
	buf     []byte
	arena   []byte
	beat    []byte // this pass's heartbeat, built when the first stream is due one
	cache   map[shareKey]shared
	again   bool // a stream has more to send than one pass writes

	// Bytes and frames written this pass, added to the counters once per pass rather
	// than once per stream (a cache line less bounced between the workers per write).
	tally struct {
		m             *metrics
		bytes, frames int
	}
}

func (sh *shard) count(m *metrics, bytes, frames int) {
	if sh.tally.m != m {
		sh.flushCounts()
		sh.tally.m = m
	}
	sh.tally.bytes += bytes
	sh.tally.frames += frames
}

func (sh *shard) flushCounts() {
	if m := sh.tally.m; m != nil {
		m.bytesWritten.Add(float64(sh.tally.bytes))
		m.framesWritten.Add(float64(sh.tally.frames))
	}
	sh.tally.m, sh.tally.bytes, sh.tally.frames = nil, 0, 0
}

// shareKey identifies the bytes every stream at the same ring position with the same
// topics-only filter is sent.
type shareKey struct {
	seq    uint64
	topics uint8
}

type shared struct {
	body   []byte // chunkRoom bytes of room, the frames, two bytes for the chunk's CRLF
	frames []*Frame
	used   int  // how many frames of the window the bytes cover
	reset  bool // the streams must leave for a snapshot instead
	// xid is the lowest transaction of the frames covered (max if none has one): the
	// choice holds for a stream whose snapshot saw none from it on.
	xid uint64
}

func (sh *shard) wake() {
	select {
	case sh.kick <- struct{}{}:
	default:
	}
}

func (sh *shard) run() {
	defer sh.f.wg.Done()
	tick := time.NewTicker(heartbeatCheck)
	defer tick.Stop()
	for {
		select {
		case <-sh.f.stop:
			return
		case <-sh.kick:
		case <-tick.C:
		}
		sh.pass()
	}
}

// pass brings every stream in the shard up to the head of the ring (or maxWindow
// frames closer to it), and sends heartbeats that are due.
func (sh *shard) pass() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.streams) == 0 {
		return
	}
	from := sh.streams[0].seq
	for _, st := range sh.streams[1:] {
		from = min(from, st.seq)
	}
	frames, start, more, closed := sh.f.hub.window(from, sh.frames[:0], maxWindow)
	sh.frames = frames
	if closed {
		return
	}
	now := time.Now()
	clear(sh.cache)
	sh.arena = sh.arena[:0]
	sh.beat = sh.beat[:0]
	sh.again = false
	for i, k := 0, 0; i < len(sh.streams); k++ {
		if k%32 == 31 { // a pass over thousands of streams takes milliseconds
			now = time.Now()
		}
		if sh.pump(sh.streams[i], frames, start, now) {
			i++
		}
	}
	sh.flushCounts()
	clear(sh.frames) // let published frames be collected once the ring drops them
	if cap(sh.arena) > 4<<20 {
		sh.arena = nil
	}
	if cap(sh.buf) > 4<<20 {
		sh.buf = nil
	}
	if more || sh.again {
		sh.wake()
	}
}

// pump sends st what it has not had of window (frames from sequence start on). It
// reports whether st is still in the shard; if not, the slot holds another stream.
func (sh *shard) pump(st *stream, window []*Frame, start uint64, now time.Time) bool {
	if st.seq < start {
		st.slow = true
		sh.leave(st, nil) // out of the ring: the drain catches up from the database
		return false
	}
	fs := window[min(st.seq-start, uint64(len(window))):]
	var body []byte
	var sent []*Frame
	if len(fs) > 0 {
		var used int
		var reset bool
		body, sent, used, reset = sh.body(st, fs)
		if reset { // needs a fresh snapshot from the database: the drain sends both
			sh.leave(st, nil)
			return false
		}
		st.seq += uint64(used)
		st.sent = max(st.sent, fs[used-1].ID)
		if used < len(fs) {
			sh.again = true
		}
	}
	if body == nil {
		if now.Sub(st.lastWrite) < st.h.cfg.Heartbeat {
			return true
		}
		if len(sh.beat) == 0 {
			sh.beat = append(appendHeartbeat(append(sh.beat, room[:]...), now, sh.f.hub.Last(), st.h.cfg.Heartbeat), '\r', '\n')
		}
		body = st.conn.frame(sh.beat)
	}
	n, err := st.conn.tryWrite(body)
	if err != nil {
		sh.leave(st, err)
		return false
	}
	sh.count(st.h.metrics, n, len(sent))
	for _, f := range sent {
		st.h.metrics.observeLag(now.Sub(f.Created))
	}
	if n > 0 {
		st.lastWrite = now
	}
	if n < len(body) {
		// Its socket is full: the drain may conflate what follows. What is kept is the
		// rest of one body (at most maxBody plus a frame), never more.
		st.slow = true
		st.pending = append(st.pending[:0], body[n:]...)
		sh.leave(st, nil)
		return false
	}
	return true
}

var room [chunkRoom]byte

// maxBody bounds the bytes one pass writes to one stream; the rest waits for the next
// pass, so a burst never makes a pass build (or a slow client keep) megabytes.
const maxBody = 256 << 10

// body returns the bytes to write for the first used frames of fs (framed for st's
// connection) and the frames they hold, as pick chooses them; nil bytes when st wants
// none of them, and reset when st must leave for a snapshot first. Streams filtered by
// topic only, at the same position, get the same choice: it is made once per pass and
// its bytes shared, except with a stream whose snapshot saw a transaction of those
// frames (it leaves them out; pick makes its own choice).
func (sh *shard) body(st *stream, fs []*Frame) (body []byte, sent []*Frame, used int, reset bool) {
	flt := &st.filter
	key := shareKey{seq: st.seq, topics: flt.Topics}
	shareable := flt.Symbols == nil && flt.Games == nil && fs[0].ID > st.sent && !st.slow
	if shareable {
		if c, ok := sh.cache[key]; ok {
			shareable = false // one choice per key: a stream that cannot take it keeps its own
			if st.seen.NoneFrom(c.xid) {
				if c.body == nil {
					return nil, nil, c.used, c.reset
				}
				return st.conn.frame(c.body), c.frames, c.used, false
			}
		}
	}
	picked, used, reset := st.pick(sh.matched[:0], fs, maxBody)
	sh.matched = picked
	var xid uint64
	if shareable {
		xid = lowestXid(fs[:used])
		shareable = st.seen.NoneFrom(xid) // else the choice left out what others need
	}
	if reset || len(picked) == 0 {
		if shareable {
			sh.cache[key] = shared{used: used, reset: reset, xid: xid}
		}
		return nil, nil, used, reset
	}
	if shareable {
		begin := len(sh.arena)
		sh.arena = appendFrames(sh.arena, picked)
		c := shared{body: sh.arena[begin:len(sh.arena):len(sh.arena)], frames: append([]*Frame(nil), picked...), used: used, xid: xid}
		sh.cache[key] = c
		return st.conn.frame(c.body), c.frames, used, false
	}
	sh.buf = appendFrames(sh.buf[:0], picked)
	return st.conn.frame(sh.buf), picked, used, false
}

// lowestXid is the lowest transaction of fs, math.MaxUint64 if none has one.
func lowestXid(fs []*Frame) uint64 {
	low := uint64(math.MaxUint64)
	for _, f := range fs {
		if f.Xid != 0 {
			low = min(low, f.Xid)
		}
	}
	return low
}

// appendFrames appends chunkRoom bytes of room, the frames' bytes, and two bytes of
// room for a chunk's CRLF.
func appendFrames(b []byte, frames []*Frame) []byte {
	b = append(b, room[:]...)
	for _, f := range frames {
		b = append(b, f.Bytes...)
	}
	return append(b, '\r', '\n')
}

// leave takes st out of the shard: to drain (err nil) or, after a failed write, to end.
func (sh *shard) leave(st *stream, err error) {
	sh.unpark(st)
	if err != nil {
		st.finish(err)
		return
	}
	sh.f.drain(st)
}

// remove takes st out of its shard if it is parked there, reporting whether it was.
func (sh *shard) remove(st *stream) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !st.parked {
		return false
	}
	sh.unpark(st)
	return true
}

// unpark takes st out of sh.streams by moving the last stream into its slot (order
// does not matter to a pass), with sh.mu held.
func (sh *shard) unpark(st *stream) {
	last := sh.streams[len(sh.streams)-1]
	sh.streams[st.slot] = last
	last.slot = st.slot
	sh.streams[len(sh.streams)-1] = nil
	sh.streams = sh.streams[:len(sh.streams)-1]
	st.parked = false
	st.h.metrics.parked.Dec()
}
