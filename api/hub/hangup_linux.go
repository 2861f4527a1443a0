package hub

import (
	"fmt"
	"sync"
	"syscall"
)

// epollHangups watches every taken-over connection for its client going away with one
// epoll instance and one goroutine, instead of the goroutine per connection that
// net/http keeps reading for the same purpose. Each connection is registered for
// EPOLLRDHUP (the client closed) once; EPOLLHUP and EPOLLERR (reset) come with it.
// Registrations are keyed by a token, never by descriptor number, so an event that
// races with a close cannot reach a newer connection that reused the number.
type epollHangups struct {
	epfd  int
	wakeR int // a pipe whose readability stops the loop
	wakeW int

	mu      sync.Mutex
	next    uint32
	watched map[uint32]func()
	closed  bool
	done    chan struct{}
}

// wakeToken is the pipe's token; connection tokens start at 1.
const wakeToken = 0

func newHangups() (hangupWatcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeToken}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	h := &epollHangups{epfd: epfd, wakeR: p[0], wakeW: p[1], watched: make(map[uint32]func()), done: make(chan struct{})}
	go h.run()
	return h, nil
}

// watch calls onHangup (from the watcher's goroutine) when the client of c goes
// away. forget cancels that; it must be called before c is closed.
func (h *epollHangups) watch(c *sseConn, onHangup func()) (forget func(), err error) {
	if c.raw == nil {
		return watchByReading(c, onHangup), nil
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errHubClosed
	}
	h.next++
	if h.next == wakeToken {
		h.next++
	}
	token := h.next
	h.watched[token] = onHangup
	h.mu.Unlock()
	forget = func() {
		h.mu.Lock()
		delete(h.watched, token)
		h.mu.Unlock()
	}
	var ctlErr error
	err = c.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(token)}
		ctlErr = syscall.EpollCtl(h.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		forget()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return forget, nil
}

func (h *epollHangups) run() {
	defer close(h.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(h.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			token := uint32(ev.Fd)
			if token == wakeToken {
				return
			}
			h.mu.Lock()
			f := h.watched[token]
			delete(h.watched, token)
			h.mu.Unlock()
			if f != nil {
				f()
			}
		}
	}
}

// close stops the watcher and waits for it; connections still registered are not
// reported.
func (h *epollHangups) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		<-h.done
		return
	}
	h.closed = true
	h.mu.Unlock()
	syscall.Write(h.wakeW, []byte{1})
	<-h.done
	syscall.Close(h.epfd)
	syscall.Close(h.wakeR)
	syscall.Close(h.wakeW)
}
