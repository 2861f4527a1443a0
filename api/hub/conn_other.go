//go:build !unix

package hub

import (
	"net"
	"syscall"
)

// rawConn is nil here: without non-blocking writes of our own, streams keep the
// goroutine net/http gives them.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *sseConn) writeOnce(uintptr) bool { return true }
