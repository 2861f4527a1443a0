package hub

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// sseConn is a stream's connection once it has been taken over from net/http (see
// fanout.go). The response headers have been sent; the body continues here, in HTTP/1.1
// chunks when the response is chunked.
type sseConn struct {
	net.Conn
	raw     syscall.RawConn // nil if the connection has no file descriptor to write to directly
	chunked bool
	gone    atomic.Bool // cut at the shutdown deadline: no write may renew its deadline

	// The non-blocking write's argument and results, so that the function handed to
	// raw.Write is made once per connection rather than once per write.
	p      []byte
	n      int
	errno  error
	write1 func(fd uintptr) bool
}

func newSSEConn(nc net.Conn, chunked bool) *sseConn {
	c := &sseConn{Conn: nc, chunked: chunked, raw: rawConn(nc)}
	if c.raw != nil {
		c.write1 = c.writeOnce
	}
	return c
}

var errNoRawConn = errors.New("connection has no raw file descriptor")

// chunkRoom is the space kept in front of a body in a buffer, for its chunk header.
const chunkRoom = 16

var crlf = []byte("\r\n")

// frame returns the bytes to send for a body held in b[chunkRoom:len(b)-2], where the
// caller left chunkRoom bytes in front and two at the end: the body wrapped as one
// chunk when the response is chunked, else the body itself.
func (c *sseConn) frame(b []byte) []byte {
	if !c.chunked {
		return b[chunkRoom : len(b)-2]
	}
	n := len(b) - chunkRoom - 2
	var hdr [chunkRoom]byte
	h := strconv.AppendInt(hdr[:0], int64(n), 16)
	h = append(h, '\r', '\n')
	start := chunkRoom - len(h)
	copy(b[start:], h)
	b[len(b)-2], b[len(b)-1] = '\r', '\n'
	return b[start:]
}

// tryWrite writes p with one non-blocking write(2) and reports how much the socket
// took: all of it, part of it, or nothing when its buffer is full. It never waits,
// so one slow client cannot hold up the writer serving the others.
func (c *sseConn) tryWrite(p []byte) (int, error) {
	if c.raw == nil {
		return 0, errNoRawConn
	}
	c.p, c.n, c.errno = p, 0, nil
	err := c.raw.Write(c.write1)
	n, errno := c.n, c.errno
	c.p, c.errno = nil, nil
	if err != nil {
		return n, err
	}
	return n, errno
}

// write sends body (raw SSE bytes), as one chunk if chunked. The client is given
// timeout to take each part: one that takes nothing for that long fails the write.
func (c *sseConn) write(body []byte, timeout time.Duration) error {
	if !c.chunked {
		return c.writeAll(net.Buffers{body}, timeout)
	}
	var hdr [chunkRoom]byte
	h := append(strconv.AppendInt(hdr[:0], int64(len(body)), 16), '\r', '\n')
	return c.writeAll(net.Buffers{h, body, crlf}, timeout)
}

// writeRaw sends bytes already framed for the wire (what a non-blocking write left).
func (c *sseConn) writeRaw(p []byte, timeout time.Duration) error {
	return c.writeAll(net.Buffers{p}, timeout)
}

// errCut fails the writes to a connection cut at the shutdown deadline.
var errCut = errors.New("connection cut at the shutdown deadline")

// cut fails the connection's reads and writes from now on, whatever deadline a writer
// sets after: a client reading a trickle cannot hold a shutdown.
func (c *sseConn) cut() {
	c.gone.Store(true)
	c.SetDeadline(time.Unix(1, 0))
}

// writeAll writes bufs, renewing the deadline whenever the client takes something.
func (c *sseConn) writeAll(bufs net.Buffers, timeout time.Duration) error {
	for len(bufs) > 0 {
		if c.gone.Load() {
			return errCut
		}
		c.SetWriteDeadline(time.Now().Add(timeout))
		n, err := bufs.WriteTo(c.Conn) // consumes what was written
		if err != nil {
			if n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return err
		}
	}
	return nil
}

// end finishes the response body (the last chunk) so the client sees a clean end.
func (c *sseConn) end(timeout time.Duration) {
	if c.chunked {
		c.writeAll(net.Buffers{[]byte("0\r\n\r\n")}, timeout)
	}
}
