// Package tcpproxy is a TCP proxy for tests that must take a network path away and
// give it back: point a client (the server's DATABASE_URL) at the proxy, then Cut it to
// play "the database is down" and Restore it to play "the database is back", while the
// test itself still talks to the real server directly. Stall plays the worse failure, a
// path that goes quiet without a FIN or a reset (a laptop asleep, a NAT that forgot the
// flow): connections stay open and no byte passes until Heal.
package tcpproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
)

// Proxy forwards every connection it accepts to one target address. While cut, it
// resets every connection it holds and every new one, as a dead host or a closed port
// would, so clients see errors at once rather than hangs.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	cut     bool
	stalled bool
	wake    chan struct{}         // closed and replaced when stalled pipes must look again
	conns   map[net.Conn]struct{} // both ends of every open pair
	closed  bool

	accepted atomic.Int64
	refused  atomic.Int64
	wg       sync.WaitGroup
}

// Listen starts a proxy on a free port of 127.0.0.1 forwarding to target (host:port).
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, conns: make(map[net.Conn]struct{}), wake: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// ListenFor starts a proxy to the host and port of rawURL (a postgres:// URL, say) and
// returns the same URL pointing through the proxy.
func ListenFor(rawURL string) (*Proxy, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("tcpproxy: parse %q: %w", rawURL, err)
	}
	target := u.Host
	if u.Port() == "" {
		return nil, "", fmt.Errorf("tcpproxy: %q names no port", rawURL)
	}
	p, err := Listen(target)
	if err != nil {
		return nil, "", err
	}
	u.Host = p.Addr()
	return p, u.String(), nil
}

// Addr is the host:port clients should dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted counts the connections forwarded to the target so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Refused counts the connections reset because the proxy was cut.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Open counts the client connections being forwarded now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Cut resets every forwarded connection and refuses new ones until Restore. When Cut
// returns, no byte passes the proxy any more.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		reset(c)
	}
	clear(p.conns)
	p.broadcast()
}

// Stall stops every byte in both directions, on open connections and new ones, without
// closing anything: peers see neither an error nor an end, only silence, as on a path
// that died quietly. Bytes already read are held and delivered on Heal, as TCP would
// retransmit them.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Heal ends a Stall: held and new bytes flow again on every connection still open.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	p.broadcast()
}

// broadcast wakes every pipe waiting out a stall so it looks at the proxy again.
// p.mu must be held.
func (p *Proxy) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// flowing waits while the proxy is stalled. It reports false if dst was closed by Cut
// or Close meanwhile, so the pipe gives up.
func (p *Proxy) flowing(dst net.Conn) bool {
	for {
		p.mu.Lock()
		_, open := p.conns[dst]
		stalled, wake := p.stalled, p.wake
		p.mu.Unlock()
		if !open {
			return false
		}
		if !stalled {
			return true
		}
		<-wake
	}
}

// Restore lets connections through again. Connections cut before stay dead, as after a
// real outage; clients must reconnect.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops the proxy, resets every connection and waits for its goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		reset(c)
	}
	clear(p.conns)
	p.broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient accept error (say, EMFILE) must not stop the proxy
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			reset(client)
			continue
		}
		p.wg.Add(1)
		go p.forward(client)
	}
}

// forward dials the target for client and copies bytes both ways until either side
// ends or the proxy is cut.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		p.refused.Add(1)
		reset(client)
		reset(server)
		return
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		// Pass a clean end on (the peer sees EOF, as with a direct connection), but not
		// through a stall: a quiet path carries no FIN either.
		if p.copy(dst, src) && p.flowing(dst) {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
	client.Close()
	server.Close()
}

// copy is io.Copy that holds each chunk while the proxy is stalled. It reports whether
// src ended cleanly (EOF) with everything passed on.
func (p *Proxy) copy(dst, src net.Conn) bool {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.flowing(dst) {
				return false
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// reset closes c with an RST rather than a FIN, so the peer fails at once, as when a
// host goes away, instead of reading a clean end of stream.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
