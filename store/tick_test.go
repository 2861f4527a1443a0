package store

import (
	"fmt"
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
	tests := []struct {
		name    string
		payload string
		ok      bool
		first   int64
		events  []int64 // ids carried; nil: read the log
	}{
		{"bare id (000002)", "17", true, 17, nil},
		{"hand-made", "", false, 0, nil},
		{"words", "hello there", false, 0, nil},
		{"id and snapshot", "17 100:105:", true, 17, nil},
		{"carried", "17 100:105:\n" + `[{"id": 17, "event": "price", "key": "A", "payload": {"p": 1}, "created_at": "2026-12-01T10:30:17.11402+00:00"},` +
			`{"id": 18, "event": "price", "key": "B", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"}]`, true, 17, []int64{17, 18}},
		{"carried with a gap", "17 100:105:\n" + `[{"id": 17, "event": "a", "key": "", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"},` +
			`{"id": 19, "event": "a", "key": "", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"}]`, true, 17, nil},
		{"carried from elsewhere", "17 100:105:\n" + `[{"id": 16, "event": "a", "key": "", "payload": {}, "created_at": "2026-12-01T10:30:17+00:00"}]`, true, 17, nil},
		{"not JSON", "17 100:105:\n[{", true, 17, nil},
		{"a time that is not one", "17 100:105:\n" + `[{"id": 17, "event": "a", "key": "", "payload": {}, "created_at": "infinity"}]`, true, 17, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := parseTickNote(tt.payload)
			if ok != tt.ok || n.first != tt.first {
				t.Fatalf("parseTickNote = first %d, ok %v; want %d, %v", n.first, ok, tt.first, tt.ok)
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
}
