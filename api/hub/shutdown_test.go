package hub

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/store"
)

// A stream that takes its connection over just as the engine stops (it found the
// engine running, the engine then closed and ended its context) still gets the last
// comment. Before the fix it returned without one about every other time: its wait
// chose between the closed hub and its ended context at random.
func TestStreamTakenOverAsTheHubClosesGetsTheLastComment(t *testing.T) {
	defer func() { testHookTakeOver = nil }()
	for i := range 20 {
		board := &snapBoard{snaps: []store.Snapshot{{ID: 1}}}
		h := New(0, 64, WithBoard(board))
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		h.Publish([]store.Event{ev(1, "price", "A")})
		closed := make(chan error, 1)
		testHookTakeOver = func(h *Hub) {
			go func() { closed <- h.Close(context.Background()) }()
			<-h.fan.finished // the engine has stopped for good, its context ended
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			h.Serve(w, r, Filter{Topics: TopicAll}, 0, false, func() {})
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := sse.NewReader(resp.Body)
		if e, err := r.Next(); err != nil || e.Name != "snapshot" {
			t.Fatalf("run %d: first event %v, %v", i, e, err)
		}
		for err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("run %d: the stream ended with %v", i, err)
		}
		if r.Comments() != 1 {
			t.Fatalf("run %d: the stream ended with %d comments, want the last one", i, r.Comments())
		}
		if err := <-closed; err != nil {
			t.Fatalf("run %d: close: %v", i, err)
		}
		resp.Body.Close()
		cancel()
		srv.Close()
	}
}
