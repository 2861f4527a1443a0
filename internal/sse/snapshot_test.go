package sse

import (
	"strings"
	"testing"
)

func TestNextSnapshot(t *testing.T) {
	tests := []struct {
		name, wire   string
		quotes       []string
		wantErr      string
		parts, plays int
	}{
		{name: "one part",
			wire:   "retry: 2000\nid: 5\nevent: snapshot\ndata: {\"id\":5,\"part\":1,\"parts\":1,\"quotes\":[\"A\"],\"games\":[],\"plays\":[]}\n\n",
			quotes: []string{`"A"`}, parts: 1},
		{name: "three parts, rows in order",
			wire: "event: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":3,\"quotes\":[\"A\",\"B\"],\"games\":[],\"plays\":[]}\n\n" +
				"event: snapshot\ndata: {\"id\":9,\"part\":2,\"parts\":3,\"quotes\":[\"C\"],\"games\":[1],\"plays\":[]}\n\n" +
				"id: 9\nevent: snapshot\ndata: {\"id\":9,\"part\":3,\"parts\":3,\"quotes\":[],\"games\":[],\"plays\":[2,3]}\n\n",
			quotes: []string{`"A"`, `"B"`, `"C"`}, parts: 3, plays: 2},
		{name: "a reset before the snapshot is skipped",
			wire: "event: reset\ndata: {\"reason\":\"retention\"}\n\n" +
				"id: 9\nevent: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":1,\"quotes\":[\"A\"],\"games\":[],\"plays\":[]}\n\n",
			quotes: []string{`"A"`}, parts: 1},
		{name: "a part missing",
			wire: "event: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":3,\"quotes\":[\"A\"],\"games\":[],\"plays\":[]}\n\n" +
				"id: 9\nevent: snapshot\ndata: {\"id\":9,\"part\":3,\"parts\":3,\"quotes\":[],\"games\":[],\"plays\":[]}\n\n",
			wantErr: "part 3 of 3 out of order"},
		{name: "a part of another snapshot",
			wire: "event: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":2,\"quotes\":[\"A\"],\"games\":[],\"plays\":[]}\n\n" +
				"id: 10\nevent: snapshot\ndata: {\"id\":10,\"part\":2,\"parts\":2,\"quotes\":[],\"games\":[],\"plays\":[]}\n\n",
			wantErr: "snapshot 10 part 2 of 2 out of order"},
		{name: "a part that is not JSON",
			wire:    "id: 9\nevent: snapshot\ndata: {\"id\":9,\n\n",
			wantErr: "snapshot part: unexpected end of JSON"},
		{name: "another event between parts",
			wire: "event: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":2,\"quotes\":[\"A\"],\"games\":[],\"plays\":[]}\n\n" +
				"id: 10\nevent: price\ndata: {}\n\n",
			wantErr: `a "price" event between the parts`},
		{name: "the stream ends mid-snapshot",
			wire:    "event: snapshot\ndata: {\"id\":9,\"part\":1,\"parts\":2,\"quotes\":[\"A\"],\"games\":[],\"plays\":[]}\n\n",
			wantErr: "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := NewReader(strings.NewReader(tt.wire)).NextSnapshot()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var quotes []string
			for _, q := range snap.Quotes {
				quotes = append(quotes, string(q))
			}
			if strings.Join(quotes, ",") != strings.Join(tt.quotes, ",") || snap.Parts != tt.parts || len(snap.Plays) != tt.plays {
				t.Errorf("got quotes %v, %d parts, %d plays; want %v, %d, %d", quotes, snap.Parts, len(snap.Plays), tt.quotes, tt.parts, tt.plays)
			}
		})
	}
}
