package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
)

// The checker's own reader must parse what the SSE format allows, or the e2e would
// blame the server for the checker's mistakes.
func TestStreamFrames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Last-Event-ID"); got != "41" {
			t.Errorf("Last-Event-ID %q, want 41", got)
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("X-Served-By", "10.0.0.1:8080, 10.0.0.2:8080")
		fmt.Fprint(w, "retry: 2000\n\n"+
			"id: 42\nevent: snapshot\ndata: {\"id\":42,\ndata:  \"x\":1}\n\n"+
			": ping\n\n"+
			"id: 43\r\nevent: price\r\ndata:a\r\n\r\n"+
			"id: 44\revent: play\rdata: b\r\r")
	}))
	defer srv.Close()

	s, err := openStream(context.Background(), srv.URL, "41")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ServedBy != "10.0.0.2:8080" {
		t.Errorf("ServedBy %q, want the instance that answered last", s.ServedBy)
	}
	want := []frame{
		{Block: sse.Block{Retry: "2000"}},
		{Block: sse.Block{ID: "42", HasID: true, Event: "snapshot", Data: "{\"id\":42,\n \"x\":1}"}},
		{Block: sse.Block{Comments: []string{"ping"}}},
		{Block: sse.Block{ID: "43", HasID: true, Event: "price", Data: "a"}},
		{Block: sse.Block{ID: "44", HasID: true, Event: "play", Data: "b"}},
	}
	for i, w := range want {
		f, err := s.next(5 * time.Second)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.ID != w.ID || f.HasID != w.HasID || f.Event != w.Event || f.Data != w.Data ||
			f.Retry != w.Retry || fmt.Sprint(f.Comments) != fmt.Sprint(w.Comments) {
			t.Errorf("frame %d = %+v, want %+v", i, f, w)
		}
	}
	if _, err := s.next(5 * time.Second); err == nil {
		t.Error("a frame after the end of the body")
	}
}

func TestOpenStreamRefusesCompressedStreams(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Encoding", "gzip")
	}))
	defer srv.Close()
	if s, err := openStream(context.Background(), srv.URL, ""); err == nil {
		s.Close()
		t.Fatal("a gzipped stream was accepted")
	}
}

func TestGauge(t *testing.T) {
	body := []byte("# HELP tickerboard_leader 1 if this instance runs the feeds\n" +
		"# TYPE tickerboard_leader gauge\n" +
		"tickerboard_leader_changes_total 3\n" +
		"tickerboard_leader 1\n")
	if v, err := gauge(body, "tickerboard_leader"); err != nil || v != 1 {
		t.Errorf("gauge = %v, %v; want 1", v, err)
	}
	if v, err := gauge([]byte("tickerboard_leader{instance=\"a\"} 0\n"), "tickerboard_leader"); err != nil || v != 0 {
		t.Errorf("labelled gauge = %v, %v; want 0", v, err)
	}
	if _, err := gauge([]byte("tickerboard_leader_changes_total 3\n"), "tickerboard_leader"); err == nil {
		t.Error("a metric with a longer name was taken for tickerboard_leader")
	}
}
