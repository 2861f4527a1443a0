package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// Next dispatches what a browser's EventSource would, whatever the line ends: the
// WHATWG rules for comments, ids, retry and dispatch, one case each.
func TestNext(t *testing.T) {
	tests := []struct {
		name, wire string
		want       []Event
		lastID     string
		retry      int64
		comments   int
	}{
		{name: "LF", wire: "id: 1\nevent: price\ndata: a\n\n",
			want: []Event{{ID: "1", Name: "price", Data: "a"}}, lastID: "1"},
		{name: "CRLF", wire: "id: 1\r\nevent: price\r\ndata: a\r\n\r\n",
			want: []Event{{ID: "1", Name: "price", Data: "a"}}, lastID: "1"},
		{name: "CR", wire: "id: 1\revent: price\rdata: a\r\r",
			want: []Event{{ID: "1", Name: "price", Data: "a"}}, lastID: "1"},
		{name: "a byte order mark at the start is dropped", wire: "\uFEFFdata: a\n\n",
			want: []Event{{Name: "message", Data: "a"}}},
		{name: "a byte order mark later is a field name", wire: "data: a\n\n\uFEFFdata: b\n\n",
			want: []Event{{Name: "message", Data: "a"}}},
		{name: "data lines join with LF, one leading space dropped", wire: "data:a\ndata:  b\ndata\n\n",
			want: []Event{{Name: "message", Data: "a\n b\n"}}},
		{name: "an empty data line dispatches empty data", wire: "data: \n\n",
			want: []Event{{Name: "message", Data: ""}}},
		{name: "comments count and do not dispatch", wire: ": ping\n\n:\ndata: x\n\n",
			want: []Event{{Name: "message", Data: "x"}}, comments: 2},
		{name: "a block without data is not dispatched and its name is spent", wire: "event: x\nid: 3\n\ndata: y\n\n",
			want: []Event{{ID: "3", Name: "message", Data: "y"}}, lastID: "3"},
		{name: "an id with NUL is ignored", wire: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
			want: []Event{{ID: "1", Name: "message", Data: "a"}, {ID: "1", Name: "message", Data: "b"}}, lastID: "1"},
		{name: "an empty id clears the last id", wire: "id: 1\ndata: a\n\nid\ndata: b\n\n",
			want: []Event{{ID: "1", Name: "message", Data: "a"}, {Name: "message", Data: "b"}}},
		{name: "retry takes digits only", wire: "retry: 2000\n\nretry: 3s\n\nretry: -1\n\nretry: 99999999999999999999\n\ndata: a\n\n",
			want: []Event{{Name: "message", Data: "a"}}, retry: 2000},
		{name: "unknown fields are ignored", wire: "foo: bar\ndata: a\n\n",
			want: []Event{{Name: "message", Data: "a"}}},
		{name: "an unterminated event is dropped", wire: "data: a\n\ndata: b\n",
			want: []Event{{Name: "message", Data: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.wire))
			var got []Event
			for {
				ev, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if r.LastID() != tt.lastID || r.Retry() != tt.retry || r.Comments() != tt.comments {
				t.Errorf("LastID %q, Retry %d, Comments %d; want %q, %d, %d", r.LastID(), r.Retry(), r.Comments(), tt.lastID, tt.retry, tt.comments)
			}
		})
	}
}
