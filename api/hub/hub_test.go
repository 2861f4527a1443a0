package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

func ev(id int64, name, key string) store.Event {
	return store.Event{ID: id, Name: name, Key: key, Payload: []byte(`{"k":"` + key + `"}`), CreatedAt: time.Now()}
}

// mustFrame encodes an event the test knows is valid.
func mustFrame(tb testing.TB, e store.Event) *Frame {
	tb.Helper()
	f, err := NewFrame(e)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func ids(frames []*Frame) []int64 {
	out := make([]int64, len(frames))
	for i, f := range frames {
		out[i] = f.ID
	}
	return out
}

func TestHubReadSeekOverrun(t *testing.T) {
	h := New(100, 16)
	seq, last := h.position()
	if seq != 0 || last != 100 {
		t.Fatalf("position = %d, %d", seq, last)
	}
	_, _, _, wake, _ := h.read(seq, nil, 10)
	// ids with gaps, as rolled-back transactions leave them
	var batch []store.Event
	for id := int64(101); id <= 120; id += 2 {
		batch = append(batch, ev(id, "price", "S"+strconv.FormatInt(id, 10)))
	}
	h.Publish(batch)
	select {
	case <-wake:
	default:
		t.Fatal("publish did not wake readers")
	}
	got, next, overrun, _, _ := h.read(seq, nil, 4)
	if overrun || next != 4 || len(got) != 4 || got[0].ID != 101 || got[3].ID != 107 {
		t.Fatalf("read = %v next %d overrun %t", ids(got), next, overrun)
	}
	if s, ok := h.seek(104); !ok || s != 2 {
		t.Fatalf("seek(104) = %d, %t; want 2 (id 105)", s, ok)
	}
	if s, ok := h.seek(100); !ok || s != 0 {
		t.Fatalf("seek(100) = %d, %t; want 0", s, ok)
	}
	// 10 more frames push the first 4 out of the 16-slot ring.
	batch = batch[:0]
	for id := int64(200); id < 210; id++ {
		batch = append(batch, ev(id, "score", "1"))
	}
	h.Publish(batch)
	if _, _, overrun, _, _ := h.read(0, nil, 4); !overrun {
		t.Fatal("reading an evicted sequence did not report overrun")
	}
	if _, ok := h.seek(101); ok {
		t.Fatal("seek into evicted ids succeeded")
	}
	if s, ok := h.seek(107); !ok || s != 4 {
		t.Fatalf("seek(107) = %d, %t; want 4", s, ok)
	}
	if h.Last() != 209 {
		t.Fatalf("Last = %d", h.Last())
	}
	h.Close(context.Background())
	if _, _, _, _, closed := h.read(20, nil, 1); !closed {
		t.Fatal("closed hub not reported")
	}
}

func TestFramesEncodedOnceAndFiltered(t *testing.T) {
	f := mustFrame(t, ev(5, "play", "42"))
	if string(f.Bytes) != "id: 5\nevent: play\ndata: {\"k\":\"42\"}\n\n" || f.Game != 42 || f.Topic != TopicScore {
		t.Fatalf("frame %+v %q", f, f.Bytes)
	}
	price := mustFrame(t, ev(6, "price", "AAPL"))
	reset := mustFrame(t, ev(7, "reset", "quotes"))
	if string(reset.Bytes) != "event: reset\ndata: {\"k\":\"quotes\"}\n\n" {
		t.Fatalf("a reset frame carries an id line: %q", reset.Bytes)
	}
	market := mustFrame(t, ev(8, "market", ""))
	if market.Topic != TopicPrice {
		t.Fatalf("a market frame's topic is %d, want the price topic", market.Topic)
	}
	cases := []struct {
		query string // what a client would ask for (api.ParseFilter)
		flt   Filter
		want  []bool // play, price, reset, market
	}{
		{"", Filter{Topics: TopicAll}, []bool{true, true, true, true}},
		{"topics=price", Filter{Topics: TopicPrice}, []bool{false, true, true, true}},
		{"topics=score", Filter{Topics: TopicScore}, []bool{true, false, true, false}},
		{"symbols=MSFT", Filter{Topics: TopicAll, Symbols: set("MSFT")}, []bool{true, false, true, true}},
		{"symbols=AAPL&games=7", Filter{Topics: TopicAll, Symbols: set("AAPL"), Games: map[int64]struct{}{7: {}}}, []bool{false, true, true, true}},
		{"games=42,43", Filter{Topics: TopicAll, Games: map[int64]struct{}{42: {}, 43: {}}}, []bool{true, true, true, true}},
	}
	for _, c := range cases {
		flt := c.flt
		for i, fr := range []*Frame{f, price, reset, market} {
			if got := flt.Match(fr); got != c.want[i] {
				t.Errorf("%q matches %s: %t, want %t", c.query, fr.Name, got, c.want[i])
			}
		}
	}
}

func TestConflateKeepsNewestPerKeyAndAllPlays(t *testing.T) {
	s := New(0, 16)
	in := []*Frame{
		mustFrame(t, ev(1, "price", "A")), mustFrame(t, ev(2, "price", "B")), mustFrame(t, ev(3, "play", "1")),
		mustFrame(t, ev(4, "price", "A")), mustFrame(t, ev(5, "score", "1")), mustFrame(t, ev(6, "play", "1")),
		mustFrame(t, ev(7, "score", "1")), mustFrame(t, ev(8, "price", "A")),
	}
	got := ids(s.conflate(in))
	want := []int64{2, 3, 6, 7, 8}
	if len(got) != len(want) {
		t.Fatalf("conflate = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("conflate = %v, want %v", got, want)
		}
	}
}

// Every value that reaches the encoder comes from the database: what cannot be carried
// is an error naming the reason, never a panic.
func TestNewFrameRefusesWhatCannotBeCarried(t *testing.T) {
	big := `{"s":"` + strings.Repeat("x", MaxPayload) + `"}`
	lines := "[" + strings.Repeat("\n", MaxPayload-2) + "]" // valid JSON, 16 KiB of line breaks
	cases := []struct {
		name, key, payload, reason string
	}{
		{"price", "AAPL", `{"a":1}`, ""},
		{"a", "", `1`, ""},
		{"x" + strings.Repeat("y", 31), strings.Repeat("é", 64), `"s"`, ""},
		{"evil\nname", "", `{}`, skipName},
		{"Price", "", `{}`, skipName},
		{"", "", `{}`, skipName},
		{"1abc", "", `{}`, skipName},
		{"x" + strings.Repeat("y", 32), "", `{}`, skipName},
		{"price", "a\nb", `{}`, skipKey},
		{"price", "a\x00b", `{}`, skipKey},
		{"price", strings.Repeat("k", 65), `{}`, skipKey},
		{"price", "\xff", `{}`, skipKey},
		{"price", "A", big, skipSize},
		{"price", "A", lines, skipSize},
		{"price", "A", `{"a":`, skipJSON},
		{"price", "A", ``, skipJSON},
		{"price", "A", `NaN`, skipJSON},
	}
	for _, c := range cases {
		f, err := NewFrame(store.Event{ID: 9, Name: c.name, Key: c.key, Payload: []byte(c.payload)})
		var fe *FrameError
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("NewFrame(%.40q, %.40q, %.40q): %v", c.name, c.key, c.payload, err)
		case c.reason == "" && len(f.Bytes) > maxFrame:
			t.Errorf("NewFrame(%.40q): a %d-byte frame", c.name, len(f.Bytes))
		case c.reason != "" && (!errors.As(err, &fe) || fe.Reason != c.reason || fe.ID != 9):
			t.Errorf("NewFrame(%.40q, %.40q, %.40q) = %v, want reason %s", c.name, c.key, c.payload, err, c.reason)
		}
	}
}

// An event the hub cannot carry is skipped and counted, but its id is published all
// the same: the hub's position, and resuming past it, are unaffected.
func TestHubSkipsBadEventsButAdvances(t *testing.T) {
	h := New(0, 16)
	defer h.Close(context.Background())
	bad := ev(2, "evil\nname", "")
	h.Publish([]store.Event{ev(1, "price", "A"), bad, ev(3, "price", "B"), {ID: 4, Name: "price", Payload: []byte("{")}})
	got, _, _, _, _ := h.read(0, nil, 10)
	if fmt.Sprint(ids(got)) != "[1 3]" || h.Last() != 4 {
		t.Fatalf("ring %v, last %d; want [1 3], 4", ids(got), h.Last())
	}
	h.Publish([]store.Event{ev(3, "price", "C")}) // not above the newest: out of order
	sk := h.Skipped()
	if sk[skipName] != 1 || sk[skipJSON] != 1 || sk[skipOrder] != 1 || h.Last() != 4 {
		t.Fatalf("skipped %v, last %d", sk, h.Last())
	}
	if seq, ok := h.seek(2); !ok || seq != 1 {
		t.Fatalf("seek(2) = %d, %t; want 1 (id 3)", seq, ok)
	}
}

// The ring holds at most its budget of bytes whatever the count: with 16 KiB events,
// a 1 MiB budget holds about 60 of them, however many are published, and a reader
// that fell behind the budget is told to catch up from the log.
func TestHubRingBoundedInBytes(t *testing.T) {
	const budget = 1 << 20
	h := New(0, 1<<16, WithMaxBytes(budget))
	defer h.Close(context.Background())
	payload := []byte(`{"s":"` + strings.Repeat("x", MaxPayload-8) + `"}`)
	var id int64
	maxHeld := 0
	for range 100 {
		batch := make([]store.Event, 30)
		for i := range batch {
			id++
			batch[i] = store.Event{ID: id, Name: "price", Key: "S" + strconv.FormatInt(id%50, 10), Payload: payload}
		}
		h.Publish(batch)
		frames, bytes := h.held()
		if bytes > budget {
			t.Fatalf("after %d events the ring holds %d bytes in %d frames, over the %d budget", id, bytes, frames, budget)
		}
		maxHeld = max(maxHeld, frames)
	}
	frames, bytes := h.held()
	if frames < 55 || frames > 64 || maxHeld > 64 {
		t.Fatalf("ring holds %d frames (%d bytes, at most %d at once); want about %d", frames, bytes, maxHeld, budget/(len(payload)+100))
	}
	if _, _, overrun, _, _ := h.read(0, nil, 10); !overrun {
		t.Fatal("a reader at an evicted frame was not told to catch up")
	}
	if _, ok := h.seek(id - int64(frames) - 1); ok {
		t.Fatal("seek before the ring succeeded")
	}
	if seq, ok := h.seek(id - int64(frames)); !ok || seq != uint64(id)-uint64(frames) {
		t.Fatalf("seek to the oldest held = %d, %t", seq, ok)
	}
}

// When the log's ids go backwards the notifier publishes a reset at the new head; the
// hub takes it though its id is not new, drops the ring, and readers at any position
// read on from it.
func TestHubRewind(t *testing.T) {
	h := New(0, 64)
	defer h.Close(context.Background())
	var batch []store.Event
	for id := int64(1); id <= 10; id++ {
		batch = append(batch, ev(id, "price", "A"))
	}
	h.Publish(batch)
	h.Publish([]store.Event{{ID: 6, Name: "reset", Payload: []byte(`{"reason":"rewound"}`)}})
	h.Publish([]store.Event{ev(7, "price", "A"), ev(8, "score", "1")})
	if h.Last() != 8 {
		t.Fatalf("Last = %d after the rewind, want 8", h.Last())
	}
	for _, from := range []uint64{0, 4, 10} {
		got, next, overrun, _, _ := h.read(from, nil, 10)
		if overrun || fmt.Sprint(ids(got)) != "[6 7 8]" || !got[0].rewind || next != 13 {
			t.Fatalf("read(%d) = %v next %d overrun %t", from, ids(got), next, overrun)
		}
	}
	if seq, ok := h.seek(6); !ok || seq != 11 {
		t.Fatalf("seek(6) = %d, %t; want 11 (id 7)", seq, ok)
	}
	if _, ok := h.seek(5); ok {
		t.Fatal("seek to before the rewind succeeded: the ring has nothing of it")
	}
	if frames, _ := h.held(); frames != 3 {
		t.Fatalf("ring holds %d frames after the rewind, want 3", frames)
	}
}

func set(keys ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}
