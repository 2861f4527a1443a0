package main

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
)

// The load tool's fast parser must see exactly what the project's reference reader
// (and so a browser) sees, whatever the line endings and however the bytes arrive.
func TestParserAgreesWithTheReferenceReader(t *testing.T) {
	streams := []string{
		"retry: 2000\n\nid: 1\nevent: price\ndata: {\"a\": 1}\n\n",
		"data: one\r\ndata: two\r\n\r\nid: 7\rdata: cr only\r\r: comment\ndata:no space\n\n",
		"event: x\nid: 3\n\n" + // no data: not dispatched, name reset
			"data: \n\n" + // empty data
			"id: a\x00b\ndata: nul id ignored\n\n" +
			"field-without-colon\ndata: x\n\n" +
			"data: unterminated at the end",
		"data: crlf split\r",
	}
	// Random streams over a small alphabet with every kind of line end.
	parts := []string{"data: d", "data:", "event: e", "id: 9", ": c", "retry: 5", "x", "\n", "\r", "\r\n", "\n\n"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		streams = append(streams, b.String())
	}
	for _, s := range streams {
		want := referenceEvents(t, s)
		for _, r := range []io.Reader{strings.NewReader(s), iotest.OneByteReader(strings.NewReader(s))} {
			p := newEventParser(r, 4) // a tiny buffer forces every refill and growth path
			var got []sse.Event
			for {
				ev, err := p.next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						t.Fatalf("%q: %v", s, err)
					}
					break
				}
				got = append(got, sse.Event{ID: string(ev.id), Name: string(ev.name), Data: string(ev.data)})
			}
			if len(got) != len(want) {
				t.Fatalf("%q: parsed %+v, reference %+v", s, got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%q: event %d is %+v, reference %+v", s, i, got[i], want[i])
				}
			}
		}
	}
}

func referenceEvents(t *testing.T, s string) []sse.Event {
	t.Helper()
	r := sse.NewReader(strings.NewReader(s))
	var out []sse.Event
	for {
		ev, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, ev)
	}
}

func TestReadMarkFromBothPayloadShapes(t *testing.T) {
	now := time.Date(2026, 11, 26, 16, 11, 17, 575383000, time.UTC)
	cases := map[string]string{
		"postgres": `{"name": "Berkshire Hathaway B", "price": 388.0049, "change": -16.9951, "symbol": "TB0042", "volume": 296037, "day_low": 385.6717, "updated_at": "2026-11-26T17:11:17.575383+01:00"}`,
		"baseline": string(encodeBaselineQuote(5, 42, 296037, now)[len("id: 5\nevent: price\ndata: ") : len(encodeBaselineQuote(5, 42, 296037, now))-2]),
		"compact":  `{"symbol":"TB0042","volume":296037,"updated_at":"2026-11-26T16:11:17.575383Z"}`,
	}
	for name, data := range cases {
		m, err := readMark([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(m.symbol) != "TB0042" || symbolIndex(m.symbol) != 42 || m.volume != 296037 || !m.updated.Equal(now) {
			t.Errorf("%s: read %q #%d vol %d at %s", name, m.symbol, symbolIndex(m.symbol), m.volume, m.updated)
		}
	}
	for _, bad := range []string{`{"symbol": "TB0001"}`, `{"volume": 3, "updated_at": "x", "symbol": "TB0001"}`, `{}`} {
		if _, err := readMark([]byte(bad)); err == nil {
			t.Errorf("readMark(%s) accepted it", bad)
		}
	}
	if symbolIndex([]byte("AAPL")) != -1 || symbolIndex([]byte("TB12X4")) != -1 {
		t.Error("symbolIndex accepted a symbol that is not the load tool's")
	}
}

func TestHistogramQuantilesWithinABucket(t *testing.T) {
	h := new(histogram)
	// 1..10000 µs, uniformly: the q-quantile is q·10 ms.
	for us := 1; us <= 10000; us++ {
		h.record(time.Duration(us) * time.Microsecond)
	}
	l := merge([]*histogram{h})
	for _, q := range []float64{0.5, 0.9, 0.99} {
		got, want := l.quantile(q), q*10
		if math.Abs(got-want)/want > 0.04 {
			t.Errorf("p%g = %.3f ms, want %.3f ± 4%%", q*100, got, want)
		}
	}
	if l.maxMs() != 10 || l.n != 10000 {
		t.Errorf("max %g ms over %d samples", l.maxMs(), l.n)
	}
	for b := 0; b < histBuckets; b++ {
		if top := bucketTop(b); bucketOf(top) != b || (b > 0 && bucketOf(bucketTop(b-1)+1) != b) {
			t.Fatalf("bucket %d: top %d maps to %d", b, top, bucketOf(top))
		}
	}
	if !math.IsNaN(merge(nil).quantile(0.5)) {
		t.Error("an empty histogram has a median")
	}
}

func TestChartDrawsBothTargets(t *testing.T) {
	var results []Result
	for _, c := range []int{100, 1000, 10000} {
		results = append(results,
			Result{Target: "tickerboard", Clients: c, Mode: "single", P50Ms: 1, P99Ms: 5, IdleKiBPerClient: 4},
			Result{Target: "baseline", Clients: c, Mode: "single", P50Ms: 2, P99Ms: 30, IdleKiBPerClient: 37})
	}
	svg, err := chartSVG(results, "single", "t <&>")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "tickerboard p99", "baseline p50", "t &lt;&amp;&gt;", ">10000<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 6 {
		t.Errorf("%d lines, want 6 (p50 and p99 of two targets, memory of two)", n)
	}
	if _, err := chartSVG(nil, "single", ""); err == nil {
		t.Error("a chart of no runs was drawn")
	}
}
