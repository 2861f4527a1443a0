package hub

import (
	"context"
	"errors"
	"time"
)

// A stream's life after it has caught up: it takes its connection over from net/http
// and parks in the fan-out (fanout.go); it gets a goroutine again (unpark) when it
// falls behind; it is ended once, by whichever goroutine owns it then.

// park hands the caught-up stream to the fan-out, taking its connection over from
// net/http first. It reports false when the stream must keep its goroutine.
func (st *stream) park() bool {
	if !st.parkable {
		return false
	}
	if st.conn == nil && !st.takeOver() {
		st.parkable = false
		return false
	}
	if st.conn.raw == nil {
		st.parkable = false // no non-blocking writes: keep this goroutine
		return false
	}
	// The worker's writes never wait; a deadline left from this goroutine's blocking
	// writes would fail them once it passed.
	if err := st.conn.SetWriteDeadline(time.Time{}); err != nil {
		return false
	}
	buf, frames := st.buf, st.frames
	st.buf, st.frames = nil, nil // an idle parked stream holds no buffer
	st.slow = false              // it has caught up
	if st.h.fan.park(st) {
		return true
	}
	st.buf, st.frames = buf, frames
	return false
}

// takeOver hijacks the connection from net/http, which then forgets it: the handler
// goroutine may end while the stream lives on. The response headers are already
// out; the body continues as it began.
func (st *stream) takeOver() bool {
	fan := st.h.fan
	if !fan.ready() {
		return false
	}
	if testHookTakeOver != nil {
		testHookTakeOver(st.h)
	}
	nc, _, err := st.rc.Hijack()
	if err != nil {
		return false
	}
	c := newSSEConn(nc, st.chunked)
	st.conn, st.w, st.rc = c, nil, nil
	fan.adopt(st) // closed since ready? follow sends the last comment, as a parked stream gets it
	st.ctx, st.cancel = context.WithCancel(fan.ctx)
	st.shard = fan.shardFor()
	if fan.hangups != nil {
		if forget, err := fan.hangups.watch(c, st.hangup); err == nil {
			st.forget = forget
		}
	}
	return true
}

// testHookTakeOver, when a test sets it, runs between takeOver's check that the
// engine runs and the hijack.
var testHookTakeOver func(*Hub)

// hangup is called when a taken-over stream's client goes away: its goroutine, if it
// has one, stops; a parked stream is ended here.
func (st *stream) hangup() {
	st.cancel()
	st.conn.SetDeadline(time.Unix(1, 0)) // a write in progress fails now
	if st.shard.remove(st) {
		st.finish(errClientGone)
	}
}

var errClientGone = errors.New("client went away")

// unpark serves a stream that left its shard in a goroutine again: it writes what a
// non-blocking write left, then follows the ring until it is caught up and parks.
func (st *stream) unpark() {
	var err error
	if len(st.pending) > 0 {
		err = st.wrote(st.conn.writeRaw(st.pending, st.h.cfg.WriteTimeout))
		st.pending = nil
	}
	if err == nil {
		err = st.follow()
	}
	if !errors.Is(err, errParked) {
		st.finish(err)
	}
}

// shutdown ends a parked stream when the hub closes: a last comment and the end of
// the body, if the socket takes them at once (a client that is not reading gets cut
// off: shutdown must not wait for it).
func (st *stream) shutdown() {
	b := st.conn.frame(append(room[:], shutdownBody...))
	if st.conn.chunked {
		b = append(b, "0\r\n\r\n"...)
	}
	st.conn.tryWrite(b)
	st.finish(errHubClosed)
}

// shutdownBody is the last comment, with room for a chunk's CRLF.
var shutdownBody = append(appendComment(nil, "server shutting down; reconnect"), '\r', '\n')

// finish ends the stream once: a taken-over connection gets the end of its body (if
// all went well) and is closed; the stream's slot is freed.
func (st *stream) finish(err error) {
	if st.ended {
		return
	}
	st.ended = true
	if st.conn != nil {
		if st.forget != nil {
			st.forget()
		}
		if err == nil {
			st.conn.end(time.Second)
		}
		st.conn.Close()
		st.cancel()
		st.h.fan.release(st)
	}
	if st.release != nil {
		st.release()
	}
	if st.joined {
		st.h.live.add(-1)
	}
}
