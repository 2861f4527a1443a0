package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/store"
)

// rowOf is a JSON row of exactly n bytes (n ≥ 12).
func rowOf(n int, i int) json.RawMessage {
	head := fmt.Sprintf(`{"i":%d,"x":"`, i)
	return json.RawMessage(head + strings.Repeat("x", n-len(head)-2) + `"}`)
}

func quotes(n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = json.RawMessage(fmt.Sprintf(`{"symbol":"TB%04d","name":"Test symbol %d Inc.","price":"123.45","open":"120.00","high":"125.00","low":"119.50","volume":%d,"change":"3.45","change_pct":"2.88","updated_at":"2026-12-01T09:53:03.123456Z"}`, i, i, i*1000))
	}
	return out
}

func TestAppendSnapshotParts(t *testing.T) {
	// fixed is a one-digit part's data without rows, for snapshot id 7.
	fixed := len(`{"id":7,"part":1,"parts":1,"market":null,"quotes":[],"games":[],"plays":[]}`)
	tests := []struct {
		name  string
		snap  store.Snapshot
		parts int
	}{
		{"empty board", store.Snapshot{ID: 7}, 1},
		{"one row", store.Snapshot{ID: 7, Quotes: quotes(1)}, 1},
		{"one of each", store.Snapshot{ID: 7, Quotes: quotes(1), Games: []json.RawMessage{rowOf(40, 1)}, Plays: []json.RawMessage{rowOf(30, 2)}}, 1},
		{"exactly fits", store.Snapshot{ID: 7, Quotes: []json.RawMessage{rowOf(snapshotPartMax-fixed-100, 0), rowOf(99, 1)}}, 1},
		{"one byte over", store.Snapshot{ID: 7, Quotes: []json.RawMessage{rowOf(snapshotPartMax-fixed-100, 0), rowOf(100, 1)}}, 2},
		{"exactly fits across kinds", store.Snapshot{ID: 7, Quotes: []json.RawMessage{rowOf(snapshotPartMax-fixed-100, 0)}, Plays: []json.RawMessage{rowOf(100, 1)}}, 1},
		{"1,000 quotes", store.Snapshot{ID: 123456, Quotes: quotes(1000), Games: []json.RawMessage{rowOf(200, 1), rowOf(200, 2)}, Plays: []json.RawMessage{rowOf(150, 3)}}, 0},
		{"16 KiB rows", store.Snapshot{ID: 9, Quotes: []json.RawMessage{rowOf(16<<10, 0), rowOf(16<<10, 1), rowOf(16<<10, 2)}, Games: []json.RawMessage{rowOf(16<<10, 3)}}, 4},
		{"market and quotes", store.Snapshot{ID: 7, Market: json.RawMessage(`{"session":"open","day":3}`), Quotes: quotes(2)}, 1},
		{"market counts against the first part", store.Snapshot{ID: 7, Market: rowOf(200, 9), Quotes: []json.RawMessage{rowOf(snapshotPartMax-fixed-200, 0), rowOf(99, 1)}}, 2},
		{"a row too big travels alone", store.Snapshot{ID: 9, Quotes: []json.RawMessage{rowOf(100, 0), rowOf(40<<10, 1), rowOf(100, 2)}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := appendSnapshot([]byte("before\n\n"), tt.snap)
			if !bytes.HasPrefix(wire, []byte("before\n\n")) {
				t.Fatal("appendSnapshot overwrote what was in dst")
			}
			frames := strings.SplitAfter(string(wire[len("before\n\n"):]), "\n\n")
			if frames[len(frames)-1] != "" {
				t.Fatalf("the wire does not end with a blank line: %q", frames[len(frames)-1])
			}
			frames = frames[:len(frames)-1]
			if tt.parts > 0 && len(frames) != tt.parts {
				t.Errorf("%d parts, want %d", len(frames), tt.parts)
			}
			if tt.parts == 0 && len(frames) < 2 {
				t.Errorf("%d parts: a 1,000-quote board must be split", len(frames))
			}
			var got store.Snapshot
			r := sse.NewReader(strings.NewReader(strings.Join(frames, "")))
			for i, frame := range frames {
				wantID := i == len(frames)-1
				if hasID := strings.HasPrefix(frame, "id: "); hasID != wantID {
					t.Errorf("part %d of %d: id line %v, want %v:\n%.100s", i+1, len(frames), hasID, wantID, frame)
				}
				ev, err := r.Next()
				if err != nil {
					t.Fatalf("part %d: %v", i+1, err)
				}
				if ev.Name != "snapshot" {
					t.Errorf("part %d is a %q event", i+1, ev.Name)
				}
				oversized := tt.name == "a row too big travels alone" && i == 1
				if len(ev.Data) > snapshotPartMax && !oversized {
					t.Errorf("part %d: %d bytes of data, over %d", i+1, len(ev.Data), snapshotPartMax)
				}
				var part struct {
					ID                   int64
					Part, Parts          int
					Quotes, Games, Plays []json.RawMessage
				}
				if err := json.Unmarshal([]byte(ev.Data), &part); err != nil {
					t.Fatalf("part %d: %v: %.200s", i+1, err, ev.Data)
				}
				if part.ID != tt.snap.ID || part.Part != i+1 || part.Parts != len(frames) {
					t.Errorf("part %d: id %d part %d of %d, want id %d part %d of %d",
						i+1, part.ID, part.Part, part.Parts, tt.snap.ID, i+1, len(frames))
				}
				// The first part carries the market row, or null; the others none.
				wantMarket := "null"
				if tt.snap.Market != nil {
					wantMarket = string(tt.snap.Market)
				}
				var keys map[string]json.RawMessage
				if err := json.Unmarshal([]byte(ev.Data), &keys); err != nil {
					t.Fatalf("part %d: %v", i+1, err)
				}
				market, ok := keys["market"]
				switch {
				case i == 0 && (!ok || string(market) != wantMarket):
					t.Errorf("part 1: market %s (present %t), want %s", market, ok, wantMarket)
				case i > 0 && ok:
					t.Errorf("part %d carries the market too: %s", i+1, market)
				}
				if part.Quotes == nil || part.Games == nil || part.Plays == nil {
					t.Errorf("part %d lacks an array: %.200s", i+1, ev.Data)
				}
				got.Quotes = append(got.Quotes, part.Quotes...)
				got.Games = append(got.Games, part.Games...)
				got.Plays = append(got.Plays, part.Plays...)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("after the parts: %v, want EOF", err)
			}
			if r.LastID() != fmt.Sprint(tt.snap.ID) {
				t.Errorf("last id %q, want %d", r.LastID(), tt.snap.ID)
			}
			for _, k := range []struct {
				name      string
				got, want []json.RawMessage
			}{{"quotes", got.Quotes, tt.snap.Quotes}, {"games", got.Games, tt.snap.Games}, {"plays", got.Plays, tt.snap.Plays}} {
				if len(k.got) != len(k.want) {
					t.Fatalf("%s: %d rows reassembled, want %d", k.name, len(k.got), len(k.want))
				}
				for i := range k.got {
					if !bytes.Equal(k.got[i], k.want[i]) {
						t.Fatalf("%s row %d: %.100s, want %.100s", k.name, i, k.got[i], k.want[i])
					}
				}
			}
		})
	}
}

func TestAppendSnapshotWire(t *testing.T) {
	got := string(appendSnapshot(nil, store.Snapshot{ID: 42, Quotes: []json.RawMessage{json.RawMessage(`{"symbol":"A"}`)}}))
	want := "id: 42\nevent: snapshot\ndata: {\"id\":42,\"part\":1,\"parts\":1,\"market\":null,\"quotes\":[{\"symbol\":\"A\"}],\"games\":[],\"plays\":[]}\n\n"
	if got != want {
		t.Errorf("wire:\n%q\nwant\n%q", got, want)
	}
}
