package sse

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// NextBlock returns every block as written — a retry alone, a comment-only heartbeat,
// an id without data — with the line ends the format allows, and keeps the reader's
// LastID, Retry and Comments as Next does.
func TestNextBlock(t *testing.T) {
	r := NewReader(strings.NewReader("retry: 2000\n\n" +
		"id: 42\nevent: snapshot\ndata: {\"id\":42,\ndata:  \"x\":1}\n\n" +
		": ping\n\n\n" +
		"id: 43\r\nevent: price\r\ndata:a\r\n\r\n" +
		"id\n\n" +
		"retry: soon\nid: 4\x005\n: two\n\n" +
		"id: 44\revent: play\rdata: b\r\r" +
		"data: never dispatched"))
	want := []Block{
		{Retry: "2000"},
		{ID: "42", HasID: true, Event: "snapshot", Data: "{\"id\":42,\n \"x\":1}"},
		{Comments: []string{"ping"}},
		{ID: "43", HasID: true, Event: "price", Data: "a"},
		{ID: "", HasID: true},
		{Retry: "soon", Comments: []string{"two"}},
		{ID: "44", HasID: true, Event: "play", Data: "b"},
	}
	for i, w := range want {
		b, err := r.NextBlock()
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if fmt.Sprintf("%+v", b) != fmt.Sprintf("%+v", w) {
			t.Errorf("block %d = %+v, want %+v", i, b, w)
		}
	}
	if b, err := r.NextBlock(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last block: %+v, %v; want io.EOF (an unterminated block is dropped)", b, err)
	}
	if r.LastID() != "44" || r.Retry() != 2000 || r.Comments() != 2 {
		t.Errorf("LastID %q, Retry %d, Comments %d; want 44, 2000, 2", r.LastID(), r.Retry(), r.Comments())
	}
}
