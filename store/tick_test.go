package store

import "testing"

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
