package tcpproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickerboard/tickerboard/internal/tcpproxy"
)

// TestMain checks that the proxy, once closed, leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer answers every line with the same line until the client leaves.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func roundTrip(c net.Conn, line string) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func TestProxyForwardsCutsAndRestores(t *testing.T) {
	p, err := tcpproxy.Listen(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	before, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if got, err := roundTrip(before, "hello"); got != "hello" || err != nil {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	if p.Open() != 1 || p.Accepted() != 1 {
		t.Fatalf("open %d, accepted %d; want 1, 1", p.Open(), p.Accepted())
	}

	p.Cut()
	if _, err := roundTrip(before, "lost"); err == nil {
		t.Fatal("a connection made before the cut still works after it")
	}
	during, err := net.Dial("tcp", p.Addr())
	if err == nil {
		_, err = roundTrip(during, "refused")
		during.Close()
	}
	if err == nil {
		t.Fatal("a connection made during the cut works")
	}

	p.Restore()
	after, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if got, err := roundTrip(after, "back"); got != "back" || err != nil {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	if p.Refused() != 1 {
		t.Fatalf("refused %d connections, want 1", p.Refused())
	}
	after.Close()
	before.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// silent reports whether c reads nothing for d: no byte, no EOF, no reset. The wait is
// the point: a stalled path is one that says nothing for a while.
func silent(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyStallsAndHeals(t *testing.T) {
	ended := make(chan struct{}, 4) // the target saw a connection end
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
				ended <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	p, err := tcpproxy.Listen(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	before, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	r := bufio.NewReader(before)
	if _, err := io.WriteString(before, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ReadString('\n'); got != "hello\n" || err != nil {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	quitter, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}

	p.Stall()
	if _, err := io.WriteString(before, "held\n"); err != nil {
		t.Fatalf("a write into a stalled path fails at once: %v", err)
	}
	if !silent(t, before, 300*time.Millisecond) {
		t.Fatal("an open connection heard something (a byte, an end or a reset) through a stall")
	}
	during, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("a new connection during a stall is refused: %v", err)
	}
	defer during.Close()
	io.WriteString(during, "late\n")
	if !silent(t, during, 100*time.Millisecond) {
		t.Fatal("a connection made during the stall heard something")
	}
	quitter.Close() // its FIN must wait for the path too
	select {
	case <-ended:
		t.Fatal("the target saw a client's end through a stall")
	case <-time.After(200 * time.Millisecond): // proving silence takes waiting
	}

	p.Heal()
	if got, err := r.ReadString('\n'); got != "held\n" || err != nil {
		t.Fatalf("after heal, the held line: %q, %v", got, err)
	}
	if got, err := bufio.NewReader(during).ReadString('\n'); got != "late\n" || err != nil {
		t.Fatalf("after heal, the connection made during the stall: %q, %v", got, err)
	}
	select {
	case <-ended: // the quitter's end passed once the path healed
	case <-time.After(5 * time.Second):
		t.Fatal("the client's end never reached the target after heal")
	}

	// A cut during a stall still ends everything at once.
	p.Stall()
	p.Cut()
	if silent(t, before, time.Second) {
		t.Fatal("a connection cut during a stall did not fail")
	}
}
