package store

import (
	"fmt"
	"strings"
	"testing"
)

func TestSnapshotCovers(t *testing.T) {
	tests := []struct {
		snap string
		txid uint64
		want bool
	}{
		{"100:105:", 99, true},
		{"100:105:", 104, true},
		{"100:105:", 105, false},
		{"100:105:100,103", 103, false},
		{"100:105:100,103", 102, true},
		{"100:105:100,103", 100, false},
		{"7:7:", 6, true},
		{"7:7:", 7, false},
	}
	for _, tt := range tests {
		c, err := parseSnapshot(tt.snap)
		if err != nil {
			t.Fatalf("parseSnapshot(%q): %v", tt.snap, err)
		}
		if got := c.covers(tt.txid); got != tt.want {
			t.Errorf("%q covers %d = %v, want %v", tt.snap, tt.txid, got, tt.want)
		}
	}
	for _, bad := range []string{"", "1:2", "a:2:", "1:b:", "1:2:x", "1:2:3:4"} {
		if _, err := parseSnapshot(bad); err == nil {
			t.Errorf("parseSnapshot(%q) = nil error, want one", bad)
		}
	}
}

func TestParseTickNote(t *testing.T) {
	key := []byte("the tick key")
	// signed builds a tick's notification as ticks_sequence does.
	signed := func(first, snap, body string) string {
		text := first + " " + snap
		if body != "" {
			text += "\n" + body
		}
		p := first + " " + snap + " " + signTick(key, text)
		if body != "" {
			p += "\n" + body
		}
		return p
	}
	two := `[{"id": 17, "event": "price", "key": "A", "payload": {"p": 1}, "created_at": "2026-12-01T10:30:17.11402+00:00"},` +
		`{"id": 18, "event": "price", "key": "B", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"}]`
	tests := []struct {
		name    string
		payload string
		ok      bool
		first   int64
		xmax    uint64  // of the snapshot believed; 0: none
		events  []int64 // ids carried; nil: read the log
	}{
		{"bare id (000002)", "17", true, 17, 0, nil},
		{"hand-made", "", false, 0, 0, nil},
		{"words", "hello there", false, 0, 0, nil},
		{"signed snapshot", signed("17", "100:105:", ""), true, 17, 105, nil},
		{"unsigned snapshot", "17 100:999999:", true, 17, 0, nil},
		{"carried", signed("17", "100:105:", two), true, 17, 105, []int64{17, 18}},
		{"carried, forged", "17 100:105:" + " " + signTick([]byte("a guess"), "17 100:105:\n"+two) + "\n" + two, true, 17, 0, nil},
		{"carried, tampered", strings.Replace(signed("17", "100:105:", two), `"p": 1`, `"p": 2`, 1), true, 17, 0, nil},
		{"carried with a gap", signed("17", "100:105:", `[{"id": 17, "event": "a", "key": "", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"},`+
			`{"id": 19, "event": "a", "key": "", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"}]`), true, 17, 105, nil},
		{"carried from elsewhere", signed("17", "100:105:", `[{"id": 16, "event": "a", "key": "", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"}]`), true, 17, 105, nil},
		{"not JSON", signed("17", "100:105:", "[{"), true, 17, 105, nil},
		{"a time that is not one", signed("17", "100:105:", `[{"id": 17, "event": "a", "key": "", "payload": {}, "created_at": "infinity"}]`), true, 17, 105, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := parseTickNote(tt.payload, key)
			if ok != tt.ok || n.first != tt.first || n.covered.xmax != tt.xmax {
				t.Fatalf("parseTickNote = first %d, xmax %d, ok %v; want %d, %d, %v", n.first, n.covered.xmax, ok, tt.first, tt.xmax, tt.ok)
			}
			var ids []int64
			for _, e := range n.events {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.events) {
				t.Fatalf("carried %v, want %v", ids, tt.events)
			}
			if len(n.events) > 0 && (n.events[0].Key != "A" || string(n.events[0].Payload) != `{"p": 1}` || n.events[0].CreatedAt.IsZero()) {
				t.Fatalf("first carried event %+v", n.events[0])
			}
		})
	}
	if n, _ := parseTickNote(signed("17", "100:105:", two), nil); n.events != nil || n.covered.xmax != 0 {
		t.Errorf("without the key a note was believed: %+v", n)
	}
}
