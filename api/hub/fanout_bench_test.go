package hub

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// The hot path, from a committed batch to bytes on sockets. Compare runs with
// benchstat: go test -run XXX -bench . -benchmem -count 10 ./api/ > new.txt

// quotePayload is a price event as Postgres' quote_json writes it (270 bytes).
func quotePayload(sym string, volume int64) []byte {
	return []byte(`{"name": "Berkshire Hathaway B", "price": 388.0049, "change": -16.9951, "symbol": "` + sym +
		`", "volume": ` + strconv.FormatInt(volume, 10) + `, "day_low": 385.6717, "day_high": 410.0997, "day_open": 405.0000, ` +
		`"change_pct": -4.1963, "prev_close": 405.0000, "updated_at": "2026-11-26T16:11:17.575383+00:00"}`)
}

func priceEvents(from int64, n, symbols int) []store.Event {
	evs := make([]store.Event, n)
	for i := range evs {
		id := from + int64(i)
		sym := fmt.Sprintf("S%03d", int(id)%symbols)
		evs[i] = store.Event{ID: id, Name: "price", Key: sym, Payload: quotePayload(sym, id), CreatedAt: time.Now()}
	}
	return evs
}

// BenchmarkEncode is the one encoding each event gets, whatever the number of viewers.
func BenchmarkEncode(b *testing.B) {
	ev := priceEvents(1, 1, 1)[0]
	b.SetBytes(int64(len(ev.Payload)))
	for b.Loop() {
		NewFrame(ev)
	}
}

// BenchmarkPublish is the notifier's side of a batch: encode and put in the ring.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			h := New(0, 1<<16)
			defer h.Close(context.Background())
			publishEach(b, h, priceEvents(1, n, 100), false, n, "ns/event")
		})
	}
}

// devNull is a net.Conn onto /dev/null: the writes are real write(2) calls, with none
// of the kernel's TCP work, so what is measured is the fan-out's own cost.
type devNull struct{ *os.File }

func (devNull) LocalAddr() net.Addr  { return nil }
func (devNull) RemoteAddr() net.Addr { return nil }

// parkStreams parks n streams of h on conns made by dial, filtered by flt, as a
// caught-up stream parks itself; the shards' workers are not started, so the
// benchmark runs each pass itself.
func parkStreams(b *testing.B, h *Hub, n int, flt Filter, dial func() net.Conn) {
	b.Helper()
	f := h.fan
	seq, last := h.position()
	for i := range n {
		c := newSSEConn(dial(), true)
		if c.raw == nil {
			b.Fatal("no raw connection")
		}
		st := &stream{h: h, filter: flt, seq: seq, sent: last, conn: c, ctx: context.Background(),
			cancel: func() {}, lastWrite: time.Now(), shard: f.shards[i%len(f.shards)]}
		if !f.park(st) {
			b.Fatal("park failed")
		}
	}
}

func passAll(f *fanout) {
	for _, sh := range f.shards {
		sh.pass()
	}
}

// publishEach publishes evs once per op, their ids following on from the last op's,
// and with fan, has every shard write them out before the next op. It reports the
// time per one of per (events or deliveries an op makes) as unit.
func publishEach(b *testing.B, h *Hub, evs []store.Event, fan bool, per int, unit string) {
	id := int64(1)
	for b.Loop() {
		for i := range evs {
			evs[i].ID = id
			id++
		}
		h.Publish(evs)
		if fan {
			passAll(h.fan)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), unit)
}

// BenchmarkFanout publishes one price event per op and writes it to every subscriber
// (topics=price, so all share one body). ns/delivery is the cost per viewer.
func BenchmarkFanout(b *testing.B) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	for _, n := range []int{1, 100, 10_000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			h := New(0, 1<<16)
			parkStreams(b, h, n, Filter{Topics: TopicPrice}, func() net.Conn { return devNull{null} })
			publishEach(b, h, priceEvents(1, 1, 100), true, n, "ns/delivery")
		})
	}
}

// BenchmarkFanoutAfterSnapshot is BenchmarkFanout's 10,000 viewers as they are under
// the WAL capture: each was sent a snapshot (one with a transaction in progress) and
// every event carries a transaction begun after it, so each frame is checked against
// the snapshot and the shared choice against each stream's.
func BenchmarkFanoutAfterSnapshot(b *testing.B) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	const n = 10_000
	seen, err := store.ParseVisibility("1000:1010:1005")
	if err != nil {
		b.Fatal(err)
	}
	h := New(0, 1<<16)
	parkStreams(b, h, n, Filter{Topics: TopicPrice}, func() net.Conn { return devNull{null} })
	for _, sh := range h.fan.shards {
		for _, st := range sh.streams {
			st.seen = seen
		}
	}
	evs := priceEvents(1, 1, 100)
	evs[0].Xid = 2000
	publishEach(b, h, evs, true, n, "ns/delivery")
}

// BenchmarkFanoutFiltered is the same with every viewer watching its own 3 symbols of
// 100: bytes are built per viewer.
func BenchmarkFanoutFiltered(b *testing.B) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	const n = 1000
	h := New(0, 1<<16)
	for i := range n {
		flt := Filter{Topics: TopicAll, Symbols: map[string]struct{}{}}
		for k := range 3 {
			flt.Symbols[fmt.Sprintf("S%03d", (i+k)%100)] = struct{}{}
		}
		parkStreams(b, h, 1, flt, func() net.Conn { return devNull{null} })
	}
	publishEach(b, h, priceEvents(1, 100, 100), true, n*3, "ns/delivery") // one tick of every symbol
}

// BenchmarkFanoutTCP writes each event to 100 viewers over loopback TCP, drained by
// reader goroutines: the kernel's share included.
func BenchmarkFanoutTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const n = 100
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var readers []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		readers = append(readers, c)
		go io.Copy(io.Discard, c)
	}
	defer func() {
		for _, c := range readers {
			c.Close()
		}
	}()
	h := New(0, 1<<16)
	parkStreams(b, h, n, Filter{Topics: TopicPrice}, func() net.Conn { return <-accepted })
	publishEach(b, h, priceEvents(1, 1, 100), true, n, "ns/delivery")
	for _, sh := range h.fan.shards { // any stream that could not take a write at once left
		if len(sh.streams) != n/len(h.fan.shards) {
			b.Logf("shard has %d streams (some were too slow and left to drain)", len(sh.streams))
		}
	}
}

// BenchmarkConflate is a slow viewer's catch-up: 1,000 frames over 50 symbols and a
// few plays reduced to the newest state of each.
func BenchmarkConflate(b *testing.B) {
	srv := New(0, 16)
	evs := priceEvents(1, 1000, 50)
	for i := 0; i < len(evs); i += 100 {
		evs[i].Name, evs[i].Key = "play", "7"
	}
	frames := make([]*Frame, len(evs))
	for i, e := range evs {
		frames[i] = mustFrame(b, e)
	}
	work := make([]*Frame, len(frames))
	for b.Loop() {
		copy(work, frames)
		srv.conflate(work)
	}
}

// BenchmarkFilterMatch is one viewer's filter against one frame.
func BenchmarkFilterMatch(b *testing.B) {
	flt := Filter{Topics: TopicAll, Symbols: map[string]struct{}{"S001": {}, "S002": {}, "S003": {}}}
	f := mustFrame(b, priceEvents(2, 1, 100)[0])
	for b.Loop() {
		flt.Match(f)
	}
}
