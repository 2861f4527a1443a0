package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// awaitSnapshot's checks on top of internal/sse's assembler (whose own tests cover
// the parts' order): the retry first, the size of a part, the id on the last part only,
// the row arrays.
func TestAwaitSnapshotInParts(t *testing.T) {
	part := func(id string, i, n int, quotes string) string {
		if id != "" {
			id = "id: " + id + "\n"
		}
		return fmt.Sprintf("%sevent: snapshot\ndata: {\"id\":9,\"part\":%d,\"parts\":%d,\"quotes\":[%s],\"games\":[],\"plays\":[]}\n\n", id, i, n, quotes)
	}
	tests := []struct {
		name, wire, wantErr string
		quotes              int
	}{
		{name: "one part, retry in the same block", wire: "retry: 2000\n" + part("9", 1, 1, "1,2"), quotes: 2},
		{name: "three parts", wire: "retry: 2000\n" + part("", 1, 3, "1") + part("", 2, 3, "2,3") + part("9", 3, 3, ""), quotes: 3},
		{name: "no retry first", wire: part("9", 1, 1, "1"), wantErr: "before any retry: 2000"},
		{name: "another event first", wire: "retry: 2000\n\nid: 8\nevent: price\ndata: {}\n\n", wantErr: `event "price"`},
		{name: "a part over 32 KiB", wire: "retry: 2000\n" + part("9", 1, 1, `"`+strings.Repeat("x", 32<<10)+`"`), wantErr: "over 32 KiB"},
		{name: "an id before the last part", wire: "retry: 2000\n" + part("9", 1, 2, "1") + part("9", 2, 2, ""), wantErr: "only the last may"},
		{name: "the last part without an id", wire: "retry: 2000\n" + part("", 1, 1, "1"), wantErr: "every event needs the events.id"},
		{name: "the last part without its plays", wire: "retry: 2000\nid: 9\nevent: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":1,\"quotes\":[],\"games\":[]}\n\n", wantErr: "want quotes, games, plays arrays"},
		{name: "the frame's id is not the snapshot's", wire: "retry: 2000\n" + part("8", 1, 1, "1"), wantErr: "want the same id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, tt.wire)
			}))
			defer srv.Close()
			s, err := openStream(context.Background(), srv.URL, "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			snap, err := awaitSnapshot(s, time.Now().Add(5*time.Second))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if snap.ID != 9 || len(snap.Quotes) != tt.quotes {
				t.Errorf("snapshot %d with %d quotes, want 9 with %d", snap.ID, len(snap.Quotes), tt.quotes)
			}
		})
	}
}
