package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// Over two simulated trading days, on the feed's fake clock, the market table goes
// open → closed → pre-open → open → closed, each a `market` event, with the session
// bounds the plan promises; no price moves while closed or pre-open except the
// next day's opening gaps, written just before it opens.
func TestSessionFollowsTheTradingDay(t *testing.T) {
	s, _ := testdb.Open(t)
	ctx := context.Background()
	logger, _ := newLogger()
	t0 := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	var ticks int
	o := Options{Prices: true, PriceRate: 100, TradingDay: 2 * time.Second, Symbols: []string{"AAA", "BBB"}}.withDefaults()
	o.now = func() time.Time { return t0.Add(time.Duration(ticks) * 20 * time.Millisecond) }
	p, err := startPrices(ctx, s, o, 1, logger)
	if err != nil {
		t.Fatal(err)
	}
	// 2 symbols at 100 a second: 50 ticks a second of 20 ms, 100 ticks a day.
	if pl := p.plan; pl.open != 80 || pl.closed != 15 || pl.preOpen != 5 || pl.tick != 20*time.Millisecond {
		t.Fatalf("plan %+v, want 80 ticks open, 15 closed, 5 pre-open, of 20 ms", pl)
	}
	for ticks = 1; ticks <= 190; ticks++ {
		if _, err := p.step(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}

	rows, err := s.Pool().Query(ctx, `SELECT event, payload FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type marketRow struct {
		Session string
		Day     int
		Opens   string `json:"opens_at"`
		Closes  string `json:"closes_at"`
	}
	// got is the sequence of sessions, each followed by how many price events came
	// before the next one.
	var got []string
	prices := 0
	for rows.Next() {
		var name string
		var payload []byte
		if err := rows.Scan(&name, &payload); err != nil {
			t.Fatal(err)
		}
		if name == "price" {
			prices++
			continue
		}
		if name != "market" {
			t.Fatalf("unexpected %s event %s", name, payload)
		}
		var m marketRow
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatalf("market payload %s: %v", payload, err)
		}
		opens, err1 := time.Parse(time.RFC3339Nano, m.Opens)
		closes, err2 := time.Parse(time.RFC3339Nano, m.Closes)
		if err1 != nil || err2 != nil {
			t.Fatalf("market payload %s: %v %v", payload, err1, err2)
		}
		if len(got) > 0 {
			got[len(got)-1] += fmt.Sprintf(" +%d", min(prices, 3)) // 3: "some"
		}
		prices = 0
		got = append(got, fmt.Sprintf("%s day %d %v–%v", m.Session, m.Day, opens.Sub(t0), closes.Sub(t0)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"open day 1 0s–1.62s +3",        // trading, ticks 1–80
		"closed day 1 2.02s–3.64s +0",   // at tick 81; the next day opens at tick 101
		"pre-open day 2 2.02s–3.64s +2", // at tick 96; then the two opening gaps
		"open day 2 2.02s–3.64s +3",     // at tick 101; trading, ticks 102–181
		"closed day 2 4.04s–5.66s",      // at tick 182
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sessions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
