package hub

import (
	"context"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// bigEvent is event id with a payload of about MaxPayload bytes.
func bigEvent(id int64) store.Event {
	pad := strings.Repeat("x", MaxPayload-64)
	return store.Event{ID: id, Name: "price", Key: "S" + strconv.FormatInt(id%100, 10),
		Payload: []byte(`{"id":` + strconv.FormatInt(id, 10) + `,"pad":"` + pad + `"}`), CreatedAt: time.Now()}
}

// bigLog is a Board whose log is bigEvent 1..Head, made on demand (so the test itself
// holds none of it).
type bigLog struct {
	Board
	head func() int64
}

func (l bigLog) Position(context.Context) (store.Position, error) {
	return store.Position{Head: l.head()}, nil
}

func (l bigLog) EventsAfter(_ context.Context, after, through int64, limit int) ([]store.Event, error) {
	var out []store.Event
	for id := after + 1; id <= min(through, l.head()) && len(out) < limit; id++ {
		out = append(out, bigEvent(id))
	}
	return out, nil
}

// A viewer that stops reading while 3,000 events of 16 KiB (48 MiB) are published
// costs the server its ring's byte budget and one partial write, not a queue of what
// it missed: the heap grows by less than the budget plus 4 MiB.
func TestSlowViewerMemoryBounded(t *testing.T) {
	const budget = 4 << 20
	cfg := DefaultStreamConfig
	cfg.WriteTimeout = time.Minute // the stalled viewer is still there at the end
	log := &bigLog{}
	h := New(0, 1<<16, WithMaxBytes(budget), WithStreamConfig(cfg), WithBoard(log))
	log.head = h.Last

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn := newSSEConn(nc, true)
	if conn.raw == nil {
		t.Skip("no raw connection here")
	}
	st := &stream{h: h, filter: Filter{Topics: TopicAll}, conn: conn, ctx: context.Background(),
		cancel: func() {}, lastWrite: time.Now(), shard: h.fan.shards[0]}
	st.seq, st.sent = h.position()
	if !h.fan.park(st) {
		t.Fatal("park failed")
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	var id int64
	for range 100 {
		batch := make([]store.Event, 30)
		for i := range batch {
			id++
			batch[i] = bigEvent(id)
		}
		h.Publish(batch)
		for _, sh := range h.fan.shards {
			sh.pass()
		}
		if _, bytes := h.held(); bytes > budget {
			t.Fatalf("ring holds %d bytes, over its %d budget", bytes, budget)
		}
		if id%600 == 0 {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
	}
	grew := int64(peak) - int64(before.HeapAlloc)
	t.Logf("published %d events of %d bytes; the heap grew by %d KiB at most (ring budget %d KiB)", id, len(bigEvent(1).Payload), grew>>10, budget>>10)
	if grew > budget+4<<20 {
		t.Fatalf("heap grew by %d bytes with one stalled viewer; bound is the ring's %d plus 4 MiB", grew, budget)
	}
	client.Close() // the drain's write fails now; the stream ends
	h.Close(context.Background())
}
