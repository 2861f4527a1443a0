package hub

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
	"github.com/tickerboard/tickerboard/store"
)

// xev is event id of transaction xid (0: written by the triggers).
func xev(id int64, name, key string, xid uint64) store.Event {
	e := ev(id, name, key)
	e.Xid = xid
	return e
}

func visibility(t testing.TB, s string) store.Visibility {
	t.Helper()
	v, err := store.ParseVisibility(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pick leaves out a frame whose transaction the stream's last snapshot saw, and only
// that: the triggers' frames (no xid), transactions then in progress or begun after,
// and a rewind's reset are sent.
func TestPickLeavesOutWhatTheSnapshotSaw(t *testing.T) {
	h := New(0, 16)
	defer h.Close(context.Background())
	fs := []*Frame{
		mustFrame(t, xev(11, "price", "A", 0)),
		mustFrame(t, xev(12, "price", "A", 99)),    // below xmin: seen
		mustFrame(t, xev(13, "price", "B", 100)),   // xmin, not in progress: seen
		mustFrame(t, xev(14, "price", "A", 102)),   // in progress: not seen
		mustFrame(t, xev(15, "score", "7", 104)),   // seen
		mustFrame(t, xev(16, "reset", "", 101)),    // seen: the snapshot shows the truncate
		mustFrame(t, xev(17, "play", "7", 105)),    // xmax: not seen
		mustFrame(t, xev(18, "price", "B", 1<<40)), // not seen
	}
	rewind := mustFrame(t, xev(5, "reset", "", 0))
	rewind.rewind = true
	cases := []struct {
		seen string // "" for no snapshot (a resume)
		want string
	}{
		{"", "[11 12 13 14 15 16]"}, // stops at the reset
		{"100:105:102,103", "[11 14 17 18]"},
		{"1:2:", "[11 12 13 14 15 16]"},
		{"200:200:", "[11 18]"},
	}
	for _, c := range cases {
		st := &stream{h: h, filter: Filter{Topics: TopicAll}, sent: 10}
		if c.seen != "" {
			st.seen = visibility(t, c.seen)
		}
		picked, used, reset := st.pick(nil, fs, math.MaxInt)
		if got := fmt.Sprint(ids(picked)); got != c.want || reset != (used < len(fs)) {
			t.Errorf("snapshot %q: picked %s (used %d, reset %t), want %s", c.seen, got, used, reset, c.want)
		}
		picked, _, reset = st.pick(nil, []*Frame{rewind}, math.MaxInt)
		if len(picked) != 1 || !reset {
			t.Errorf("snapshot %q: a rewind's reset was left out", c.seen)
		}
	}
}

// Parked streams at one position with one filter share one choice of frames, except
// a stream whose snapshot saw some of them: it gets its own, and the others are not
// given its choice, whichever of them makes a choice first. Every stream's cursor and
// sent id move past what it was not sent.
func TestParkedStreamsShareOnlyWhatTheirSnapshotsAllow(t *testing.T) {
	for _, order := range []string{"plain,seen,old", "seen,plain,old", "old,seen,plain"} {
		t.Run(order, func(t *testing.T) {
			h := New(0, 64)
			defer h.Close(context.Background())
			seen := map[string]string{"plain": "", "seen": "100:105:102", "old": "50:60:"}
			want := map[string]string{"plain": "[1 2 3 4 5]", "seen": "[1 3 5]", "old": "[1 2 3 4 5]"}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			streams := map[string]*stream{}
			readers := map[string]*sse.Reader{}
			for name := range strings.SplitSeq(order, ",") {
				client, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				client.SetReadDeadline(time.Now().Add(10 * time.Second))
				nc, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				conn := newSSEConn(nc, false)
				if conn.raw == nil {
					t.Skip("no raw connection here")
				}
				st := &stream{h: h, filter: Filter{Topics: TopicAll}, conn: conn, ctx: context.Background(),
					cancel: func() {}, lastWrite: time.Now(), shard: h.fan.shards[0]}
				if s := seen[name]; s != "" {
					st.seen = visibility(t, s)
				}
				st.seq, st.sent = h.position()
				if !h.fan.park(st) {
					t.Fatal("park failed")
				}
				streams[name], readers[name] = st, sse.NewReader(client)
			}
			h.Publish([]store.Event{xev(1, "price", "A", 0), xev(2, "price", "A", 101), xev(3, "price", "A", 102),
				xev(4, "price", "B", 99), xev(5, "price", "B", 105)})
			h.fan.shards[0].pass()
			for name, st := range streams {
				if !st.parked || st.seq != 5 || st.sent != 5 {
					t.Errorf("%s: parked %t, seq %d, sent %d after the pass; want parked at 5, 5", name, st.parked, st.seq, st.sent)
				}
				var got []int64
				for range strings.Count(want[name], " ") + 1 {
					e, err := readers[name].Next()
					if err != nil {
						t.Fatalf("%s: %v after %v", name, err, got)
					}
					var id int64
					fmt.Sscan(e.ID, &id)
					got = append(got, id)
				}
				if fmt.Sprint(got) != want[name] {
					t.Errorf("%s (snapshot %q) was sent %v, want %s", name, seen[name], got, want[name])
				}
			}
		})
	}
}

// snapBoard hands out snapshots in turn; nothing is read from a log.
type snapBoard struct {
	Board
	mu    sync.Mutex
	snaps []store.Snapshot
}

func (b *snapBoard) Snapshot(context.Context, store.Filter) (store.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.snaps) == 0 {
		return store.Snapshot{}, fmt.Errorf("no snapshot left")
	}
	s := b.snaps[0]
	b.snaps = b.snaps[1:]
	return s, nil
}

// A stream, parked or with its goroutine, leaves out what the snapshot it was sent
// showed, the snapshot after a reset included.
func TestStreamLeavesOutWhatItsSnapshotShowed(t *testing.T) {
	for _, parked := range []bool{false, true} {
		t.Run(fmt.Sprintf("parked=%t", parked), func(t *testing.T) {
			board := &snapBoard{snaps: []store.Snapshot{
				{ID: 2, Visible: visibility(t, "100:105:102")},
				{ID: 10, Visible: visibility(t, "110:112:")},
			}}
			opts := []Option{WithBoard(board)}
			if !parked {
				opts = append(opts, WithoutParking())
			}
			h := New(0, 64, opts...)
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			h.Publish([]store.Event{xev(1, "price", "A", 0), xev(2, "price", "A", 0)})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				h.Serve(w, r, Filter{Topics: TopicAll}, 0, false, func() {})
			}))
			defer srv.Close()
			defer h.Close(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := sse.NewReader(resp.Body)
			var got []string
			next := func() {
				t.Helper()
				e, err := r.Next()
				if err != nil {
					t.Fatalf("%v after %v", err, got)
				}
				got = append(got, e.Name+":"+e.ID)
			}
			next() // the first snapshot
			if parked {
				for parkedStreams(h) != 1 {
					if ctx.Err() != nil {
						t.Fatal("the stream never parked")
					}
					time.Sleep(time.Millisecond) // parking is not announced
				}
			}
			h.Publish([]store.Event{
				xev(3, "price", "A", 101),  // seen
				xev(4, "price", "A", 102),  // in progress
				xev(5, "price", "B", 99),   // seen
				xev(6, "price", "B", 0),    // the triggers'
				xev(7, "price", "A", 105),  // after
				xev(8, "reset", "", 103),   // seen: the snapshot shows the truncate
				xev(9, "price", "A", 104),  // seen
				xev(10, "reset", "", 106),  // after: a new snapshot, which saw up to 111
				xev(11, "price", "A", 111), // seen by the second snapshot
				xev(12, "price", "A", 112), // after
			})
			for range 6 {
				next()
			}
			want := "[snapshot:2 price:4 price:6 price:7 reset:7 snapshot:10 price:12]"
			if fmt.Sprint(got) != want {
				t.Fatalf("the viewer got %v, want %s", got, want)
			}
		})
	}
}

// parkedStreams counts the streams parked in h's shards.
func parkedStreams(h *Hub) int {
	n := 0
	for _, sh := range h.fan.shards {
		sh.mu.Lock()
		n += len(sh.streams)
		sh.mu.Unlock()
	}
	return n
}
