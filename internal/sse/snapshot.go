package sse

import (
	"encoding/json"
	"fmt"
)

// Snapshot is a board reassembled from the parts of `snapshot` events, each
// {"id","part","parts","quotes","games","plays"}; only the last part carries the id.
type Snapshot struct {
	ID                   int64
	Parts                int
	Quotes, Games, Plays []json.RawMessage
}

// SnapshotAssembler gathers snapshot parts in order, as the page does.
type SnapshotAssembler struct {
	pending *Snapshot
	next    int
}

// Add folds in one `snapshot` event. It returns the whole snapshot once its last part
// is in; a part out of order is an error, and drops what was pending.
func (a *SnapshotAssembler) Add(ev Event) (Snapshot, bool, error) {
	var part struct {
		ID                   int64
		Part, Parts          int
		Quotes, Games, Plays []json.RawMessage
	}
	if err := json.Unmarshal([]byte(ev.Data), &part); err != nil {
		a.pending = nil
		return Snapshot{}, false, fmt.Errorf("snapshot part: %w", err)
	}
	if part.Part == 1 {
		a.pending, a.next = &Snapshot{ID: part.ID, Parts: part.Parts}, 1
	}
	p := a.pending
	if p == nil || part.ID != p.ID || part.Parts != p.Parts || part.Part != a.next {
		a.pending = nil
		return Snapshot{}, false, fmt.Errorf("snapshot %d part %d of %d out of order", part.ID, part.Part, part.Parts)
	}
	p.Quotes = append(p.Quotes, part.Quotes...)
	p.Games = append(p.Games, part.Games...)
	p.Plays = append(p.Plays, part.Plays...)
	a.next++
	if part.Part < part.Parts {
		return Snapshot{}, false, nil
	}
	a.pending = nil
	return *p, true, nil
}

// Reset drops a snapshot in progress (a reset or a reconnect).
func (a *SnapshotAssembler) Reset() { a.pending = nil }

// Pending says whether a snapshot is in progress: its first part is in, its last not
// yet. Any other event then is out of place.
func (a *SnapshotAssembler) Pending() bool { return a.pending != nil }

// NextSnapshot reads until a whole snapshot is in, skipping what comes before its
// first part. A part out of order, or any other event between parts, is an error.
func (r *Reader) NextSnapshot() (Snapshot, error) {
	var a SnapshotAssembler
	for {
		ev, err := r.Next()
		if err != nil {
			return Snapshot{}, err
		}
		if ev.Name != "snapshot" {
			if a.Pending() {
				return Snapshot{}, fmt.Errorf("a %q event between the parts of a snapshot", ev.Name)
			}
			continue
		}
		snap, done, err := a.Add(ev)
		if err != nil || done {
			return snap, err
		}
	}
}
