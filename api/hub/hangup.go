package hub

import (
	"errors"
	"sync"
)

// hangupWatcher tells when the client of a taken-over connection goes away, which
// net/http no longer does once the connection is ours.
type hangupWatcher interface {
	// watch calls onHangup (once, from another goroutine) when c's client goes away;
	// forget stops watching and must be called before c is closed.
	watch(c *sseConn, onHangup func()) (forget func(), err error)
	close()
}

var errHubClosed = errors.New("hub closed")

// watchByReading is the portable way: a goroutine blocked in a read, as net/http's
// own background read is. A client of an event stream sends nothing, so any return
// from Read (EOF, reset, or the close that forget causes) means the stream is over.
func watchByReading(c *sseConn, onHangup func()) (forget func()) {
	done := make(chan struct{})
	go func() {
		var b [1]byte
		c.Conn.Read(b[:])
		select {
		case <-done:
		default:
			onHangup()
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
