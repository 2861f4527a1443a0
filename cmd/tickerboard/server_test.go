package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is run() in-process, as the binary runs it.
type testServer struct {
	URL, Addr string
	stop      context.CancelFunc
	done      chan error
	once      sync.Once
	t         testing.TB
}

// startServer runs run() against dbURL with "-feeds none" plus args, listening on addr
// ("127.0.0.1:0" picks a free port; pass a previous server's Addr to restart on the
// same port), waits until /readyz is 200, and stops it at test cleanup.
func startServer(t testing.TB, dbURL, addr string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	env := map[string]string{"DATABASE_URL": dbURL}
	argv := append([]string{"-addr", addr, "-feeds", "none", "-log-level", "warn"}, args...)
	s := &testServer{stop: cancel, done: make(chan error, 1), t: t}
	go func() {
		err := run(ctx, argv, func(k string) string { return env[k] }, w, testWriter{t})
		w.CloseWithError(io.EOF)
		s.done <- err
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	go io.Copy(io.Discard, out)
	if !strings.HasPrefix(line, "listening on http://") {
		cancel()
		t.Fatalf("server did not start: %q %v %v", line, err, <-s.done)
	}
	s.URL = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	s.Addr = strings.TrimPrefix(s.URL, "http://")
	t.Cleanup(s.Stop)
	s.waitReady(t)
	return s
}

func (s *testServer) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not ready within 30s: %v", s.URL, err)
		}
		time.Sleep(20 * time.Millisecond) // polling readiness: there is no event to await
	}
}

// Stop shuts the server down as SIGTERM would and waits for run to return.
func (s *testServer) Stop() {
	s.once.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			s.t.Errorf("server did not stop within 15s")
		}
	})
}

// testWriter sends the server's log to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
