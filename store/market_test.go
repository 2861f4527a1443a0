package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// The snapshot carries the market row when prices are asked for, and only then;
// SetMarket counts a new day and makes the row again if someone deleted it.
func TestSetMarketAndSnapshot(t *testing.T) {
	st, url := testdb.Open(t)
	ctx := context.Background()
	opens := time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC)
	market := func(f store.Filter) map[string]any {
		t.Helper()
		snap, err := st.Snapshot(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Market == nil {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(snap.Market, &m); err != nil {
			t.Fatalf("market %s: %v", snap.Market, err)
		}
		return m
	}
	if m := market(store.Filter{Quotes: true}); m["session"] != "closed" || m["day"] != 0.0 {
		t.Fatalf("the migration's market: %v, want closed on day 0", m)
	}
	steps := []struct {
		m       store.MarketSession
		day     float64
		deleted bool // the row is deleted first
	}{
		{store.MarketSession{Session: "open", OpensAt: opens, ClosesAt: opens.Add(time.Hour)}, 1, false}, // day at least 1
		{store.MarketSession{Session: "pre-open", OpensAt: opens, ClosesAt: opens.Add(time.Hour), NewDay: true}, 2, false},
		{store.MarketSession{Session: "open", OpensAt: opens, ClosesAt: opens.Add(time.Hour)}, 2, false},
		{store.MarketSession{Session: "closed", OpensAt: opens, ClosesAt: opens.Add(time.Hour)}, 1, true},
	}
	for _, s := range steps {
		if s.deleted {
			testdb.Exec(t, url, `DELETE FROM market`)
			if m := market(store.Filter{Quotes: true}); m != nil {
				t.Fatalf("snapshot market after DELETE: %v, want none", m)
			}
		}
		if err := st.SetMarket(ctx, s.m); err != nil {
			t.Fatal(err)
		}
		m := market(store.Filter{Quotes: true})
		if m["session"] != s.m.Session || m["day"] != s.day || m["opens_at"] == nil || m["closes_at"] == nil {
			t.Errorf("after %+v: market %v, want %s on day %v", s.m, m, s.m.Session, s.day)
		}
	}
	if m := market(store.Filter{Scores: true}); m != nil {
		t.Errorf("a scores-only snapshot carries the market: %v", m)
	}
}
