package feeds

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestScheduleSplitsTheRate(t *testing.T) {
	cases := []struct {
		rate      float64
		symbols   int
		perSecond float64
		perTick   float64
	}{
		{5, 24, 5, 1},        // default: one update every 200 ms
		{0.5, 24, 0.5, 1},    // slower than once a second
		{20, 24, 20, 1},      // one per tick up to 20 ticks a second
		{100, 24, 20, 5},     // then batches
		{2000, 500, 20, 100}, // thousands a second: 20 statements of 100
		{5000, 24, 5000.0 / 24, 24},
	}
	for _, c := range cases {
		s := newSchedule(c.rate, c.symbols)
		if math.Abs(s.perSecond-c.perSecond) > 1e-9 || math.Abs(s.perTick-c.perTick) > 1e-9 {
			t.Errorf("rate %v over %d symbols: %v ticks/s × %v, want %v × %v", c.rate, c.symbols, s.perSecond, s.perTick, c.perSecond, c.perTick)
		}
		if s.perTick > float64(c.symbols) {
			t.Errorf("rate %v: %v updates per tick of %d symbols", c.rate, s.perTick, c.symbols)
		}
	}
}

func TestMarketPublishesTheRate(t *testing.T) {
	for _, c := range []struct {
		rate    float64
		symbols int
	}{{5, 24}, {50, 24}, {3000, 400}, {5000, 24}} {
		u := testUniverse(c.symbols)
		s := newSchedule(c.rate, len(u))
		m := newMarket(1, u, s, time.Hour)
		ticks := int(s.perSecond * 10)
		total := 0
		for range ticks {
			moves, newDay := m.step()
			if newDay {
				t.Fatal("trading day ended early")
			}
			seen := map[string]bool{}
			for _, mv := range moves {
				if seen[mv.Symbol] {
					t.Fatalf("rate %v: %s twice in one tick", c.rate, mv.Symbol)
				}
				seen[mv.Symbol] = true
				if mv.Factor <= 0 || mv.Volume < minSharesPerUpdate || mv.Volume%minSharesPerUpdate != 0 {
					t.Fatalf("bad move %+v", mv)
				}
			}
			total += len(moves)
		}
		if want := float64(ticks) * s.perTick; math.Abs(float64(total)-want) > 1 {
			t.Errorf("rate %v over %d symbols: %d updates in %d ticks (10 s), want %v", c.rate, c.symbols, total, ticks, want)
		}
	}
}

func TestSameSeedSameSequence(t *testing.T) {
	run := func(seed int64) []string {
		m := newMarket(seed, DefaultUniverse, newSchedule(50, len(DefaultUniverse)), 30*time.Second)
		var out []string
		for range 2000 { // crosses trading days
			moves, newDay := m.step()
			out = append(out, fmt.Sprint(newDay, moves))
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different sequences")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same sequence")
	}
}

// dailyReturns simulates days trading days of u, publishing every instrument every
// tick, and returns each instrument's daily log returns (close to close).
func dailyReturns(seed int64, u []Instrument, days int) [][]float64 {
	m := newMarket(seed, u, newSchedule(float64(len(u))*10, len(u)), 10*time.Second)
	rets := make([][]float64, len(u))
	day := make([]float64, len(u))
	index := map[string]int{}
	for i, in := range u {
		index[in.Symbol] = i
	}
	for len(rets[0]) < days {
		moves, newDay := m.step()
		for _, mv := range moves {
			day[index[mv.Symbol]] += math.Log(mv.Factor)
		}
		if newDay {
			for i := range u {
				rets[i] = append(rets[i], day[i])
				day[i] = 0
			}
		}
	}
	return rets
}

func TestMarketIsRealistic(t *testing.T) {
	u := []Instrument{
		{"T1", "", "Tech", 100, 0.30, 0.08, 1e6}, {"T2", "", "Tech", 100, 0.30, 0.08, 1e6},
		{"E1", "", "Energy", 100, 0.30, 0.08, 1e6}, {"E2", "", "Energy", 100, 0.60, 0.08, 1e6},
	}
	rets := dailyReturns(7, u, 1500)
	corr := func(a, b []float64) float64 {
		ma, mb := mean(a), mean(b)
		var sab, saa, sbb float64
		for i := range a {
			sab += (a[i] - ma) * (b[i] - mb)
			saa += (a[i] - ma) * (a[i] - ma)
			sbb += (b[i] - mb) * (b[i] - mb)
		}
		return sab / math.Sqrt(saa*sbb)
	}
	inSector := (corr(rets[0], rets[1]) + corr(rets[2], rets[3])) / 2
	across := (corr(rets[0], rets[2]) + corr(rets[1], rets[3])) / 2
	t.Logf("daily return correlation: %.2f in a sector, %.2f across", inSector, across)
	// Factor loadings give 0.5 and 0.25 in the session; idiosyncratic jumps dilute that.
	if inSector < 0.3 || inSector > 0.55 || across < 0.1 || across > 0.3 || inSector-across < 0.1 {
		t.Errorf("correlations %.2f in sector, %.2f across; want about 0.4 and 0.2", inSector, across)
	}
	for i, in := range u {
		sd := stddev(rets[i]) * math.Sqrt(tradingDaysPerYear)
		t.Logf("%s: annualised volatility %.3f (configured %.2f, overnight gaps included)", in.Symbol, sd, in.Volatility)
		if sd < in.Volatility*0.85 || sd > in.Volatility*1.15 {
			t.Errorf("%s: annualised volatility %.3f, want about %.2f", in.Symbol, sd, in.Volatility)
		}
	}
	// Jumps give fat tails: more 4-sigma days than a normal distribution's 0.006%.
	tails := 0
	for _, r := range rets {
		sd, m := stddev(r), mean(r)
		for _, x := range r {
			if math.Abs(x-m) > 4*sd {
				tails++
			}
		}
	}
	if tails == 0 {
		t.Error("no 4-sigma days in 6000: no jumps")
	}
}

func TestTradingDayOpensWithAGap(t *testing.T) {
	u := testUniverse(30)
	s := newSchedule(60, len(u)) // 20 ticks/s of 3
	m := newMarket(3, u, s, 5*time.Second)
	if m.ticksPerDay != 100 {
		t.Fatalf("%d ticks per day, want 100 (5 s at 20 ticks/s)", m.ticksPerDay)
	}
	var volume [2]int64 // the first and last 10% of the day vs the middle
	for i := range 100 {
		moves, newDay := m.step()
		if newDay {
			t.Fatalf("new day at tick %d", i)
		}
		for _, mv := range moves {
			switch {
			case i < 10 || i >= 90:
				volume[0] += mv.Volume
			case i >= 45 && i < 65:
				volume[1] += mv.Volume
			}
		}
	}
	if volume[0] <= volume[1] {
		t.Errorf("volume at the open and close %d, midday %d: want the U shape", volume[0], volume[1])
	}
	gaps, newDay := m.step()
	if !newDay || len(gaps) != len(u) {
		t.Fatalf("tick 100: newDay %v with %d moves, want the open of all %d", newDay, len(gaps), len(u))
	}
	for _, g := range gaps {
		if g.Factor < 0.8 || g.Factor > 1.25 || g.Volume < minSharesPerUpdate {
			t.Errorf("implausible opening gap %+v", g)
		}
	}
	if _, newDay := m.step(); newDay {
		t.Error("two opens in a row")
	}
}

func TestMarketDropsDeletedSymbols(t *testing.T) {
	u := testUniverse(5)
	m := newMarket(1, u, newSchedule(100, len(u)), time.Hour)
	m.step()
	m.setInstruments(u[1:4])
	for range 50 {
		moves, _ := m.step()
		for _, mv := range moves {
			if mv.Symbol == u[0].Symbol || mv.Symbol == u[4].Symbol {
				t.Fatalf("moved %s after it was dropped", mv.Symbol)
			}
		}
		if len(moves) > 3 {
			t.Fatalf("%d moves from 3 symbols", len(moves))
		}
	}
}

func testUniverse(n int) []Instrument {
	u := make([]Instrument, n)
	for i := range u {
		u[i] = madeUpInstrument(fmt.Sprintf("S%03d", i))
	}
	return u
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func stddev(xs []float64) float64 {
	m, s := mean(xs), 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}
