package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickerboard/tickerboard/internal/instance"
	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/internal/testserver"
)

// trickle opens /events on a connection with a tiny receive buffer whose reader, once
// let go, takes a few bytes at a time: a client that keeps a write alive forever.
func trickle(t *testing.T, addr string) (conn net.Conn, r *sse.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("trickling client: %v %v", resp, err)
	}
	return conn, sse.NewReader(resp.Body)
}

// Shutdown through the production wiring, with parked viewers and one reading a
// trickle from a stream that is draining a backlog: run returns within the one
// shutdown deadline (the trickle is cut, not waited for), no goroutine it started
// outlives it, and no query was running when the pool closed.
func TestRunShutdownIsBoundedAndLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dbURL := testdb.URL(t)
	log := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-feeds", "none", "-log-level", "debug"},
			func(k string) string { return map[string]string{"DATABASE_URL": dbURL}[k] }, w, log)
		w.CloseWithError(io.EOF)
		done <- err
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	go io.Copy(io.Discard, out)
	if !strings.HasPrefix(line, "listening on http://") {
		cancel()
		t.Fatalf("server did not start: %q %v %v", line, err, <-done)
	}
	srv := &testServer{URL: strings.TrimSpace(strings.TrimPrefix(line, "listening on "))}
	srv.Addr = strings.TrimPrefix(srv.URL, "http://")
	srv.waitReady(t)
	// The viewers read as viewers do, so they stay caught up (parked) through the
	// backlog below; each reports how many comments its stream held when it ended.
	var viewers []chan int
	for range 10 {
		r, closeStream := stream(t, srv.URL, "")
		defer closeStream()
		nextNamed(t, r, "snapshot")
		ended := make(chan int, 1)
		go func() {
			for {
				if _, err := r.Next(); err != nil {
					ended <- r.Comments() // the stream ended
					return
				}
			}
		}()
		viewers = append(viewers, ended)
	}
	conn, slow := trickle(t, srv.Addr)
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if ev, err := slow.Next(); err != nil || ev.Name != "snapshot" {
		t.Fatalf("trickling client began with %v %v", ev, err)
	}
	conn.SetReadDeadline(time.Time{})
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, name, price) SELECT 'S' || i, repeat('n', 100), 1 FROM generate_series(1, 20000) i`)
	deadline := time.Now().Add(20 * time.Second)
	for testserver.Metric(t, srv.URL, "tickerboard_stream_drains_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the trickling client's stream never left its shard to drain")
		}
		time.Sleep(10 * time.Millisecond) // a counter to poll; nothing to await
	}
	trickled := make(chan struct{})
	go func() { // a few bytes every few milliseconds: progress enough to renew any deadline
		defer close(trickled)
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond) // the client's pace, not synchronisation
		}
	}()

	start := time.Now()
	cancel()
	bound := instance.DefaultShutdown + 3*time.Second
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(bound):
		t.Fatalf("run did not return within %s of the signal", bound)
	}
	for i, ended := range viewers {
		select {
		case comments := <-ended:
			if comments == 0 {
				t.Errorf("viewer %d ended without the shutdown comment", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("viewer %d's stream did not end after run returned", i)
		}
	}
	conn.Close()
	select {
	case <-trickled:
	case <-time.After(10 * time.Second):
		t.Fatal("the trickling reader did not stop after its connection closed")
	}
	if s := log.String(); strings.Contains(s, "closed pool") || strings.Contains(s, "pool closed") {
		t.Fatalf("a query ran into the closed pool:\n%s", s)
	}
	t.Logf("run returned %s after the signal", time.Since(start).Round(time.Millisecond))
}

// lockedBuffer is a log the test reads while the server may still write to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
