package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// snapshotPart is one `event: snapshot` frame; only the last carries an id.
func snapshotPart(part, parts int, quotes ...string) string {
	id := ""
	if part == parts {
		id = "id: 7\n"
	}
	return fmt.Sprintf("%sevent: snapshot\ndata: {\"id\":7,\"part\":%d,\"parts\":%d,\"quotes\":[%s],\"games\":[],\"plays\":[]}\n\n",
		id, part, parts, strings.Join(quotes, ","))
}

func quote(i int, volume int64) string {
	return fmt.Sprintf(`{"symbol":%q,"volume":%d}`, symbolName(i), volume)
}

// The client takes its symbols' volumes from the snapshot internal/sse assembles
// (whose own tests cover the parts' order) and checks what only it knows: that every
// symbol of the run is there, and that nothing comes between the parts.
func TestClientReadsASnapshotInParts(t *testing.T) {
	tests := []struct {
		name    string
		wire    string
		wantErr string
		last    []int64
	}{
		{name: "three parts, another's symbol ignored", wire: "retry: 2000\n" + snapshotPart(1, 3, quote(0, 5)) + snapshotPart(2, 3, quote(1, 6), `{"symbol":"OTHER","volume":1}`) + snapshotPart(3, 3, quote(2, 7)),
			last: []int64{5, 6, 7}},
		{name: "an event before the snapshot is skipped", wire: "id: 6\nevent: price\ndata: {}\n\n" + snapshotPart(1, 1, quote(0, 5), quote(1, 6), quote(2, 7)), last: []int64{5, 6, 7}},
		{name: "an event between parts", wire: snapshotPart(1, 2, quote(0, 5)) + "id: 8\nevent: price\ndata: {}\n\n", wantErr: "a price event between the parts"},
		{name: "a symbol missing", wire: snapshotPart(1, 2, quote(0, 5)) + snapshotPart(2, 2, quote(2, 7)), wantErr: "snapshot lacks TB0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, tt.wire)
			}))
			defer srv.Close()
			base, _ := url.Parse(srv.URL)
			c := &client{base: base, symbols: 3, tally: newTally(1)}
			defer c.close()
			_, err := c.connect(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(c.last) != fmt.Sprint(tt.last) {
				t.Errorf("volumes %v, want %v", c.last, tt.last)
			}
		})
	}
}
