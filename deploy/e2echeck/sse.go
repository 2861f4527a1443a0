package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
)

// frame is one block of an SSE stream (sse.Block: every field up to a blank line) and
// when it was read. A block holding only comments (a heartbeat) has Comments and no Event.
type frame struct {
	sse.Block
	At time.Time // when the blank line ending the frame was read
}

// stream is an open GET /events response, read frame by frame in the background so
// a caller can wait for the next frame with a deadline.
type stream struct {
	resp     *http.Response
	cancel   context.CancelFunc
	frames   chan frame
	err      error // set before frames is closed
	ServedBy string
}

// openStream connects to url. lastEventID, if not empty, is sent as Last-Event-ID.
// It fails unless the answer is a 200 text/event-stream that nginx has not
// compressed (the request offers gzip on purpose).
func openStream(ctx context.Context, url, lastEventID string) (*stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Cache-Control", "no-cache")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	fail := func(format string, args ...any) (*stream, error) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: "+format+" (body %q)", append([]any{url}, append(args, body)...)...)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("status %s", resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fail("Content-Type %q, want text/event-stream", resp.Header.Get("Content-Type"))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		return fail("Content-Encoding %q: the stream must not be compressed", ce)
	}
	s := &stream{
		resp:     resp,
		cancel:   cancel,
		frames:   make(chan frame, 4096),
		ServedBy: lastAddr(resp.Header.Get("X-Served-By")),
	}
	go s.read()
	return s, nil
}

// lastAddr returns the instance that finally answered, from nginx's $upstream_addr
// ("a:8080, b:8080" when the first try failed).
func lastAddr(upstreamAddr string) string {
	parts := strings.Split(upstreamAddr, ",")
	return strings.TrimSpace(parts[len(parts)-1])
}

// Close ends the stream.
func (s *stream) Close() {
	s.cancel()
	s.resp.Body.Close()
}

// next waits up to d for the next frame.
func (s *stream) next(d time.Duration) (frame, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case f, ok := <-s.frames:
		if !ok {
			return frame{}, fmt.Errorf("stream ended: %w", s.err)
		}
		return f, nil
	case <-t.C:
		return frame{}, fmt.Errorf("no frame within %s", d)
	}
}

// nextEvent waits until deadline for the next frame that is not a heartbeat.
func (s *stream) nextEvent(deadline time.Time) (frame, error) {
	for {
		f, err := s.next(time.Until(deadline))
		if err != nil {
			return f, err
		}
		if f.Event != "" || f.Data != "" || f.HasID || f.Retry != "" {
			return f, nil
		}
	}
}

func (s *stream) read() {
	defer close(s.frames)
	r := sse.NewReader(s.resp.Body)
	for {
		b, err := r.NextBlock()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			s.err = err
			return
		}
		s.frames <- frame{Block: b, At: time.Now()}
	}
}
