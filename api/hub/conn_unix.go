//go:build unix

package hub

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConn is the connection's file descriptor access, or nil if it has none.
func rawConn(nc net.Conn) syscall.RawConn {
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			return raw
		}
	}
	return nil
}

// writeOnce is the write(2) itself. The socket is non-blocking, so the call returns
// at once: it is made as a raw system call, without telling the scheduler, which
// would otherwise prepare to hand this thread's processor to another thread (and
// keep its monitor polling every 20 µs) for each of thousands of short writes.
func (c *sseConn) writeOnce(fd uintptr) bool {
	if len(c.p) == 0 {
		return true
	}
	for {
		k, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.p[0])), uintptr(len(c.p)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
		case e != 0:
			c.errno = e
		default:
			c.n = int(k)
		}
		return true // never wait for the socket to drain
	}
}
