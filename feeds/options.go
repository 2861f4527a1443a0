package feeds

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// Options configures the simulators. The zero value of a field means its default, so
// Options built in code need not repeat what Register sets.
type Options struct {
	Prices, Scores bool // which feeds run (set by the caller from -feeds)

	// PriceRate is how many quote updates per second the price feed writes in total.
	PriceRate float64
	// GameSpeed is how many seconds of game clock pass per second of wall clock.
	GameSpeed float64
	// Seed makes the feeds reproducible: the same seed on the same starting database
	// gives the same sequence. 0 picks a random seed, which is logged.
	Seed int64
	// Symbols picks the symbols the price feed moves; nil means the whole universe.
	// A symbol not in the universe is listed with a made-up profile.
	Symbols []string
	// Universe replaces the default instruments (see -symbols-file).
	Universe []Instrument
	// TradingDay is how long one simulated trading session lasts on the wall clock.
	TradingDay time.Duration
	// LiveGames is how many games the score feed keeps in play at once.
	LiveGames int
	// KeepFinals is how many finished games of the feed's leagues stay on the board;
	// older ones are deleted.
	KeepFinals int

	// Test hooks: how often the score feed steps and writes game clocks, and the clock
	// that decides when scheduled games start.
	scoreTick, clockEvery time.Duration
	now                   func() time.Time
}

// The defaults are chosen so the page moves on its own: a few price updates a second
// and a scoring play every few seconds.
const (
	// DefaultPriceRate is a few updates a second: each default symbol moves every ~5 s.
	DefaultPriceRate = 5
	// DefaultGameSpeed plays a basketball game in about six minutes.
	DefaultGameSpeed = 10
	// DefaultTradingDay opens a new session (prev_close := the close) every ten minutes,
	// so change % resets now and then as on a real board.
	DefaultTradingDay = 10 * time.Minute
	// DefaultLiveGames fills the scoreboard without crowding it.
	DefaultLiveGames = 8
	// DefaultKeepFinals matches the finals a snapshot carries.
	DefaultKeepFinals = 20

	// maxPriceRate bounds -price-rate to what one leader can plausibly write.
	maxPriceRate = 1_000_000
	// maxGameSpeed keeps a game longer than one score tick.
	maxGameSpeed = 100_000
	// maxLiveGames leaves teams free for the queue of upcoming games (half as many).
	maxLiveGames = 16
)

// Register adds the feeds' flags to fs, writing into o, with their defaults.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.Float64Var(&o.PriceRate, "price-rate", DefaultPriceRate, "price updates per second, in total across symbols")
	fs.Float64Var(&o.GameSpeed, "game-speed", DefaultGameSpeed, "game clock multiplier (10 = a 12-minute quarter takes 72 s)")
	fs.Int64Var(&o.Seed, "seed", 0, "random seed for the feeds; 0 = random (logged), same seed = same sequence")
	fs.Func("symbols", "comma-separated symbols the price feed moves (default: the built-in universe)", func(s string) error {
		syms, err := ParseSymbols(s)
		o.Symbols = syms
		return err
	})
	fs.Func("symbols-file", "CSV file replacing the built-in universe: symbol,name,sector,price,volatility,avg_volume", func(path string) error {
		u, err := LoadUniverse(path)
		o.Universe = u
		return err
	})
	fs.DurationVar(&o.TradingDay, "trading-day", DefaultTradingDay, "wall-clock length of one simulated trading session")
	fs.IntVar(&o.LiveGames, "live-games", DefaultLiveGames, "games the score feed keeps in play at once")
	fs.IntVar(&o.KeepFinals, "keep-finals", DefaultKeepFinals, "finished games kept on the board; older ones are deleted")
}

// ParseSymbols splits a comma-separated list of symbols, upper-cased, and rejects any
// that the quotes table would refuse, naming it.
func ParseSymbols(s string) ([]string, error) {
	var syms []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		sym := strings.ToUpper(strings.TrimSpace(f))
		if sym == "" {
			continue
		}
		if !store.ValidSymbol(sym) {
			return nil, fmt.Errorf("symbol %q: want a letter then up to 9 letters, digits or dots", f)
		}
		if !seen[sym] {
			seen[sym] = true
			syms = append(syms, sym)
		}
	}
	if len(syms) == 0 {
		return nil, errors.New("no symbols in list")
	}
	return syms, nil
}

// Validate reports the first option that cannot work, naming it, so a bad flag fails
// at start rather than on whichever instance is later elected leader.
func (o Options) Validate() error {
	switch {
	case o.PriceRate < 0 || o.PriceRate > maxPriceRate:
		return fmt.Errorf("price-rate %v: want 0 (default) to %d updates per second", o.PriceRate, maxPriceRate)
	case o.GameSpeed < 0 || o.GameSpeed > maxGameSpeed:
		return fmt.Errorf("game-speed %v: want 0 (default) to %d", o.GameSpeed, maxGameSpeed)
	case o.TradingDay < 0 || (o.TradingDay > 0 && o.TradingDay < time.Second):
		return fmt.Errorf("trading-day %v: want at least 1s", o.TradingDay)
	case o.LiveGames < 0 || o.LiveGames > maxLiveGames:
		return fmt.Errorf("live-games %d: want 0 (default) to %d (the leagues have 48 teams)", o.LiveGames, maxLiveGames)
	case o.KeepFinals < 0:
		return fmt.Errorf("keep-finals %d: want 0 or more", o.KeepFinals)
	}
	for _, s := range o.Symbols {
		if !store.ValidSymbol(s) {
			return fmt.Errorf("symbols: %q is not a valid symbol", s)
		}
	}
	for _, in := range o.Universe {
		if err := in.validate(); err != nil {
			return fmt.Errorf("universe: %w", err)
		}
	}
	return nil
}

// withDefaults fills every zero field with its default.
func (o Options) withDefaults() Options {
	if o.PriceRate == 0 {
		o.PriceRate = DefaultPriceRate
	}
	if o.GameSpeed == 0 {
		o.GameSpeed = DefaultGameSpeed
	}
	if o.TradingDay == 0 {
		o.TradingDay = DefaultTradingDay
	}
	if o.LiveGames == 0 {
		o.LiveGames = DefaultLiveGames
	}
	if o.KeepFinals == 0 {
		o.KeepFinals = DefaultKeepFinals
	}
	if o.scoreTick == 0 {
		o.scoreTick = 250 * time.Millisecond
	}
	if o.clockEvery == 0 {
		o.clockEvery = time.Second
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}
