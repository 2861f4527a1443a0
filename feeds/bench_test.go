package feeds

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// BenchmarkPriceFeed measures the highest price rate the feed can commit: each
// iteration is one tick, one UPDATE of batch quotes (each firing its price event and
// price tick), committed. updates/s is the rate it sustains at that batch size; the
// feed's schedule uses batches of rate/20.
//
//	go test -run XXX -bench PriceFeed -benchtime 5s ./feeds/
func BenchmarkPriceFeed(b *testing.B) {
	for _, batch := range []int{1, 25, 100, 500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, _ := testdb.Open(b)
			ctx := context.Background()
			symbols := make([]string, batch)
			for i := range symbols {
				symbols[i] = fmt.Sprintf("S%04d", i)
			}
			logger, _ := newLogger()
			o := Options{PriceRate: float64(batch * maxTicksPerSecond), Symbols: symbols, TradingDay: 24 * time.Hour}.withDefaults()
			p, err := startPrices(ctx, s, o, 1, logger)
			if err != nil {
				b.Fatal(err)
			}
			if p.market.sched.perTick != float64(batch) {
				b.Fatalf("%v updates per tick, want %d", p.market.sched.perTick, batch)
			}
			updates := 0
			for b.Loop() {
				n, err := p.step(ctx, 1)
				if err != nil {
					b.Fatal(err)
				}
				updates += n
			}
			b.ReportMetric(float64(updates)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}
