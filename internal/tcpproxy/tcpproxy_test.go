package tcpproxy_test

import (
	"bufio"
	"io"
	"net"
	"testing"

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
