package api

import (
	"strconv"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

func ev(id int64, name, key string) store.Event {
	return store.Event{ID: id, Name: name, Key: key, Payload: []byte(`{"k":"` + key + `"}`), CreatedAt: time.Now()}
}

func ids(frames []*Frame) []int64 {
	out := make([]int64, len(frames))
	for i, f := range frames {
		out[i] = f.ID
	}
	return out
}

func TestHubReadSeekOverrun(t *testing.T) {
	h := NewHub(100, 16)
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
	h.Close()
	if _, _, _, _, closed := h.read(20, nil, 1); !closed {
		t.Fatal("closed hub not reported")
	}
}

func TestFramesEncodedOnceAndFiltered(t *testing.T) {
	f := NewFrame(ev(5, "play", "42"))
	if string(f.Bytes) != "id: 5\nevent: play\ndata: {\"k\":\"42\"}\n\n" || f.Game != 42 || f.Topic != topicScore {
		t.Fatalf("frame %+v %q", f, f.Bytes)
	}
	price := NewFrame(ev(6, "price", "AAPL"))
	reset := NewFrame(ev(7, "reset", "quotes"))
	cases := []struct {
		query string
		want  []bool // play, price, reset
	}{
		{"", []bool{true, true, true}},
		{"topics=price", []bool{false, true, true}},
		{"topics=score", []bool{true, false, true}},
		{"symbols=MSFT", []bool{true, false, true}},
		{"symbols=AAPL&games=7", []bool{false, true, true}},
		{"games=42,43", []bool{true, true, true}},
	}
	for _, c := range cases {
		flt, err := ParseFilter(mustQuery(t, c.query))
		if err != nil {
			t.Fatal(err)
		}
		for i, fr := range []*Frame{f, price, reset} {
			if got := flt.Match(fr); got != c.want[i] {
				t.Errorf("%q matches %s: %t, want %t", c.query, fr.Name, got, c.want[i])
			}
		}
	}
}

func TestConflateKeepsNewestPerKeyAndAllPlays(t *testing.T) {
	s := &server{metrics: newMetrics(Gauges{})}
	in := []*Frame{
		NewFrame(ev(1, "price", "A")), NewFrame(ev(2, "price", "B")), NewFrame(ev(3, "play", "1")),
		NewFrame(ev(4, "price", "A")), NewFrame(ev(5, "score", "1")), NewFrame(ev(6, "play", "1")),
		NewFrame(ev(7, "score", "1")), NewFrame(ev(8, "price", "A")),
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
