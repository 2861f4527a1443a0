package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

type priceEvent struct {
	Symbol  string  `json:"symbol"`
	Price   float64 `json:"price"`
	Volume  int64   `json:"volume"`
	Deleted bool    `json:"deleted"`
}

func decodePrice(t *testing.T, e store.Event) priceEvent {
	t.Helper()
	var p priceEvent
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatalf("price event %d: %v", e.ID, err)
	}
	return p
}

func TestRunPricesResumesFromTheDatabase(t *testing.T) {
	s, u := testdb.Open(t)
	events := follow(t, s)
	logger, logs := newLogger()
	o := Options{Prices: true, PriceRate: 400, Seed: 1}

	stop := runFeeds(t, s, o, logger)
	moved := map[string]int{}
	await(t, events, 30*time.Second, "every symbol to move twice", func(e store.Event) bool {
		if e.Name == "price" {
			moved[decodePrice(t, e).Symbol]++
		}
		for _, in := range DefaultUniverse {
			if moved[in.Symbol] < 3 { // the listing, then two moves
				return false
			}
		}
		return true
	})
	stop()

	ctx := context.Background()
	var perTx float64
	tick(t, s)
	if err := s.Pool().QueryRow(ctx, `SELECT count(*)::float8 / count(DISTINCT txid) FROM events
		WHERE event = 'price' AND payload->>'volume' <> '0'`).Scan(&perTx); err != nil {
		t.Fatal(err)
	}
	// 400/s is 20 ticks a second of 20 symbols, each tick one statement.
	if perTx < 15 {
		t.Errorf("%.1f price events per transaction, want batches of about 20", perTx)
	}
	quotes, err := s.FeedQuotes(ctx, o.withDefaults().symbolList())
	if err != nil {
		t.Fatal(err)
	}
	if len(quotes) != len(DefaultUniverse) {
		t.Fatalf("%d quotes listed, want %d", len(quotes), len(DefaultUniverse))
	}
	for _, q := range quotes {
		if q.Volume <= 0 || q.DayHigh < q.Price || q.DayLow > q.Price || q.PrevClose <= 0 || q.Name == "" {
			t.Errorf("implausible quote %+v", q)
		}
	}

	// A human moves AAPL and deletes KO while no leader runs; the next leader moves AAPL
	// on from the human's price, and lists KO again (it is in its configured universe).
	testdb.Exec(t, u, `UPDATE quotes SET price = 1000 WHERE symbol = 'AAPL'`)
	testdb.Exec(t, u, `DELETE FROM quotes WHERE symbol = 'KO'`)
	mark := eventHead(t, s)
	runFeeds(t, s, o, logger)
	var after []priceEvent
	await(t, events, 30*time.Second, "AAPL to move after the restart", func(e store.Event) bool {
		if e.Name != "price" || e.ID <= mark {
			return false
		}
		p := decodePrice(t, e)
		after = append(after, p)
		return p.Symbol == "AAPL" && p.Price != 1000
	})
	last := after[len(after)-1]
	if last.Price < 950 || last.Price > 1050 {
		t.Errorf("AAPL moved from the human's 1000 to %v: it should move on from there", last.Price)
	}
	if after[0].Symbol != "KO" || after[0].Price != 62.1 || after[0].Volume != 0 {
		t.Errorf("first event after the restart %+v, want KO listed again at 62.1", after[0])
	}
	if problems := logs.problems(); len(problems) > 0 {
		t.Errorf("warnings logged: %q", problems)
	}
}

// The feed keeps a human's deletion while it runs, too: it notices and moves on.
func TestPriceFeedLetsGoOfDeletedSymbols(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	logger, _ := newLogger()
	o := Options{Prices: true, PriceRate: 1000, Symbols: []string{"AAA", "BBB", "CCC"}, Seed: 3}.withDefaults()
	p, err := startPrices(ctx, s, o, 3, logger)
	if err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, u, `DELETE FROM quotes WHERE symbol = 'BBB'`)
	for range 5 {
		if _, err := p.step(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.market.inst) != 2 {
		t.Errorf("market still has %d instruments after BBB was deleted, want 2", len(p.market.inst))
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM quotes WHERE symbol = 'BBB'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("BBB listed again (%d, %v)", n, err)
	}
}

func TestPriceFeedAtThousandsPerSecond(t *testing.T) {
	s, _ := testdb.Open(t)
	events := follow(t, s)
	logger, logs := newLogger()
	var symbols []string
	for i := range 300 {
		symbols = append(symbols, fmt.Sprintf("S%03d", i))
	}
	stop := runFeeds(t, s, Options{Prices: true, PriceRate: 3000, Symbols: symbols, Seed: 5}, logger)
	n := 0
	await(t, events, 60*time.Second, "3000 price moves", func(e store.Event) bool {
		if e.Name == "price" {
			n++
		}
		return n >= 300+3000
	})
	stop()
	var perTx float64
	tick(t, s)
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*)::float8 / count(DISTINCT txid) FROM events
		WHERE event = 'price'`).Scan(&perTx); err != nil {
		t.Fatal(err)
	}
	// 3000/s is 20 statements a second of 150 rows each.
	if perTx < 100 {
		t.Errorf("%.1f price events per transaction, want batches of about 150", perTx)
	}
	if problems := logs.problems(); len(problems) > 0 {
		t.Errorf("warnings logged: %q", problems)
	}
}

// The same seed on the same starting database writes the same prices and volumes.
func TestSameSeedSameDatabaseSequence(t *testing.T) {
	sequence := func(seed int64) map[string][]string {
		s, _ := testdb.Open(t)
		ctx := context.Background()
		logger, _ := newLogger()
		o := Options{Prices: true, PriceRate: 200, TradingDay: 2 * time.Second}.withDefaults()
		p, err := startPrices(ctx, s, o, seed, logger)
		if err != nil {
			t.Fatal(err)
		}
		for range 120 { // three trading days of 40 ticks
			if _, err := p.step(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		tick(t, s)
		rows, err := s.Pool().Query(ctx, `SELECT key, payload->>'price', payload->>'volume', payload->>'prev_close'
			FROM events WHERE event = 'price' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		seq := map[string][]string{}
		for rows.Next() {
			var sym, price, volume, prev string
			if err := rows.Scan(&sym, &price, &volume, &prev); err != nil {
				t.Fatal(err)
			}
			seq[sym] = append(seq[sym], price+"/"+volume+"/"+prev)
		}
		return seq
	}
	a, b, c := sequence(11), sequence(11), sequence(12)
	if len(a["AAPL"]) < 30 {
		t.Fatalf("AAPL moved only %d times", len(a["AAPL"]))
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("seed 11 twice gave different sequences: AAPL %v vs %v", a["AAPL"][:5], b["AAPL"][:5])
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 11 and 12 gave the same sequence")
	}
}

func (o Options) symbolList() []string {
	var syms []string
	for _, in := range o.universe() {
		syms = append(syms, in.Symbol)
	}
	return syms
}

// tick moves committed events into the log, as a running instance's notifier would.
func tick(t *testing.T, s *store.Store) {
	t.Helper()
	if _, err := s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func eventHead(t *testing.T, s *store.Store) int64 {
	t.Helper()
	tick(t, s)
	p, err := s.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p.Head
}

// When the database falls behind, missed ticks are merged into one write: fewer
// statements, the same market.
func TestMergedTicksKeepTheMarket(t *testing.T) {
	final := func(group int) (map[string]store.FeedQuote, int) {
		s, _ := testdb.Open(t)
		ctx := context.Background()
		logger, _ := newLogger()
		o := Options{Prices: true, PriceRate: 100, TradingDay: 2 * time.Second}.withDefaults()
		p, err := startPrices(ctx, s, o, 5, logger)
		if err != nil {
			t.Fatal(err)
		}
		for range 126 / group { // three trading days and a bit
			if _, err := p.step(ctx, group); err != nil {
				t.Fatal(err)
			}
		}
		quotes, err := s.FeedQuotes(ctx, o.symbolList())
		if err != nil {
			t.Fatal(err)
		}
		var txs int
		tick(t, s)
		if err := s.Pool().QueryRow(ctx, `SELECT count(DISTINCT txid) FROM events`).Scan(&txs); err != nil {
			t.Fatal(err)
		}
		out := map[string]store.FeedQuote{}
		for _, q := range quotes {
			out[q.Symbol] = q
		}
		return out, txs
	}
	one, oneTxs := final(1)
	seven, sevenTxs := final(7)
	if sevenTxs >= oneTxs/3 {
		t.Errorf("merging 7 ticks a write took %d transactions, one at a time %d", sevenTxs, oneTxs)
	}
	for sym, a := range one {
		b := seven[sym]
		// Prices are rounded to 4 places per write, so merged writes round less often.
		if math.Abs(a.Price-b.Price) > 0.001*a.Price || a.Volume != b.Volume || math.Abs(a.PrevClose-b.PrevClose) > 0.001*a.Price {
			t.Errorf("%s: one tick a write ends at %v (vol %d, prev %v), seven at %v (vol %d, prev %v)",
				sym, a.Price, a.Volume, a.PrevClose, b.Price, b.Volume, b.PrevClose)
		}
	}
}

// A leader that finds the quotes older than a trading day (no leader ran meanwhile)
// opens a new day: yesterday's last price becomes prev_close.
func TestPriceFeedOpensADayAfterAClosedSpell(t *testing.T) {
	s, u := testdb.Open(t)
	ctx := context.Background()
	logger, _ := newLogger()
	o := Options{Prices: true, PriceRate: 100, Symbols: []string{"AAA", "BBB"}}.withDefaults()
	p, err := startPrices(ctx, s, o, 1, logger)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := p.step(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	testdb.Exec(t, u, `UPDATE quotes SET volume = 999999999`) // so a reset shows
	before, err := s.FeedQuotes(ctx, []string{"AAA", "BBB"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startPrices(ctx, s, o, 1, logger); err != nil { // within the day: no new day
		t.Fatal(err)
	}
	same, err := s.FeedQuotes(ctx, []string{"AAA", "BBB"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, same) {
		t.Errorf("a restart within the trading day changed the quotes: %+v → %+v", before, same)
	}
	o.now = func() time.Time { return time.Now().Add(o.TradingDay + time.Minute) }
	if _, err := startPrices(ctx, s, o, 1, logger); err != nil {
		t.Fatal(err)
	}
	after, err := s.FeedQuotes(ctx, []string{"AAA", "BBB"})
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range after {
		b := before[i]
		if q.PrevClose != b.Price || q.DayOpen != q.Price || q.DayHigh != q.Price || q.DayLow != q.Price || q.Volume >= b.Volume || q.Volume <= 0 {
			t.Errorf("%s after a closed spell: %+v; want prev_close %v (the last price), a fresh range and volume", q.Symbol, q, b.Price)
		}
	}
}
