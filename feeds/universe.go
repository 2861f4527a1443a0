package feeds

import (
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/tickerboard/tickerboard/store"
)

// Instrument is one listed symbol and the character of its price: where it is first
// listed, how wild it is and how much of it trades.
type Instrument struct {
	Symbol     string
	Name       string
	Sector     string  // instruments of one sector move together
	Price      float64 // first listing price; an existing quote keeps its own
	Volatility float64 // annualised, e.g. 0.30
	Drift      float64 // annualised expected return
	AvgVolume  int64   // shares per trading day
}

func (in Instrument) validate() error {
	switch {
	case !store.ValidSymbol(in.Symbol):
		return fmt.Errorf("symbol %q: want a letter then up to 9 letters, digits or dots", in.Symbol)
	case len(in.Name) > 100:
		return fmt.Errorf("%s: name longer than 100 characters", in.Symbol)
	case !(in.Price > 0 && in.Price < 1e9):
		return fmt.Errorf("%s: price %v must be above 0 and below 1e9", in.Symbol, in.Price)
	case !(in.Volatility > 0 && in.Volatility <= 5):
		return fmt.Errorf("%s: volatility %v must be above 0 and at most 5 (500%%/year)", in.Symbol, in.Volatility)
	case in.Drift < -1 || in.Drift > 1:
		return fmt.Errorf("%s: drift %v must be between -1 and 1", in.Symbol, in.Drift)
	case in.AvgVolume < 0:
		return fmt.Errorf("%s: avg_volume %d must not be negative", in.Symbol, in.AvgVolume)
	}
	return nil
}

// DefaultUniverse is the market the price feed simulates unless told otherwise:
// familiar large caps with plausible (not real-time) prices, volatilities and volumes.
var DefaultUniverse = []Instrument{
	{"AAPL", "Apple Inc.", "Technology", 189.50, 0.26, 0.10, 55_000_000},
	{"MSFT", "Microsoft Corp.", "Technology", 415.20, 0.24, 0.10, 22_000_000},
	{"NVDA", "NVIDIA Corp.", "Technology", 121.40, 0.52, 0.15, 250_000_000},
	{"GOOGL", "Alphabet Inc.", "Technology", 168.30, 0.29, 0.09, 25_000_000},
	{"META", "Meta Platforms Inc.", "Technology", 502.10, 0.36, 0.10, 15_000_000},
	{"AMZN", "Amazon.com Inc.", "Consumer", 181.70, 0.31, 0.10, 40_000_000},
	{"TSLA", "Tesla Inc.", "Consumer", 178.90, 0.58, 0.08, 95_000_000},
	{"WMT", "Walmart Inc.", "Consumer", 68.40, 0.17, 0.06, 18_000_000},
	{"KO", "Coca-Cola Co.", "Consumer", 62.10, 0.14, 0.05, 12_000_000},
	{"MCD", "McDonald's Corp.", "Consumer", 271.80, 0.17, 0.06, 3_000_000},
	{"NKE", "Nike Inc.", "Consumer", 93.20, 0.30, 0.05, 9_000_000},
	{"JPM", "JPMorgan Chase & Co.", "Financials", 198.60, 0.22, 0.07, 9_000_000},
	{"BAC", "Bank of America Corp.", "Financials", 38.70, 0.26, 0.06, 35_000_000},
	{"GS", "Goldman Sachs Group Inc.", "Financials", 452.30, 0.25, 0.07, 2_200_000},
	{"V", "Visa Inc.", "Financials", 274.50, 0.19, 0.08, 6_500_000},
	{"BRK.B", "Berkshire Hathaway Inc. Class B", "Financials", 408.90, 0.15, 0.07, 3_500_000},
	{"XOM", "Exxon Mobil Corp.", "Energy", 114.60, 0.25, 0.05, 16_000_000},
	{"CVX", "Chevron Corp.", "Energy", 158.20, 0.24, 0.05, 8_000_000},
	{"JNJ", "Johnson & Johnson", "Health Care", 152.40, 0.16, 0.05, 7_000_000},
	{"PFE", "Pfizer Inc.", "Health Care", 28.30, 0.24, 0.03, 38_000_000},
	{"UNH", "UnitedHealth Group Inc.", "Health Care", 497.80, 0.23, 0.08, 3_500_000},
	{"BA", "Boeing Co.", "Industrials", 181.30, 0.34, 0.04, 7_000_000},
	{"CAT", "Caterpillar Inc.", "Industrials", 342.70, 0.28, 0.07, 2_800_000},
	{"GE", "GE Aerospace", "Industrials", 161.90, 0.30, 0.08, 6_000_000},
}

// LoadUniverse reads instruments from a CSV file with the columns
// symbol,name,sector,price,volatility,avg_volume. Only symbol is required; blank or
// missing fields take a profile made up from the symbol. Lines starting with # are
// comments.
func LoadUniverse(path string) ([]Instrument, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("symbols file: %w", err)
	}
	defer f.Close()
	u, err := ParseUniverse(f)
	if err != nil {
		return nil, fmt.Errorf("symbols file %s: %w", path, err)
	}
	return u, nil
}

// ParseUniverse is LoadUniverse on a reader.
func ParseUniverse(r io.Reader) ([]Instrument, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var u []Instrument
	seen := map[string]bool{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		in, err := parseInstrument(rec)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if seen[in.Symbol] {
			return nil, fmt.Errorf("line %d: symbol %s listed twice", line, in.Symbol)
		}
		seen[in.Symbol] = true
		u = append(u, in)
	}
	if len(u) == 0 {
		return nil, errors.New("no symbols")
	}
	return u, nil
}

func parseInstrument(rec []string) (Instrument, error) {
	if len(rec) > 6 {
		return Instrument{}, fmt.Errorf("%d fields, want at most 6: symbol,name,sector,price,volatility,avg_volume", len(rec))
	}
	field := func(i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	in := madeUpInstrument(strings.ToUpper(field(0)))
	if s := field(1); s != "" {
		in.Name = s
	}
	if s := field(2); s != "" {
		in.Sector = s
	}
	for i, dst := range []*float64{&in.Price, &in.Volatility} {
		if s := field(3 + i); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return Instrument{}, fmt.Errorf("%s: %s %q is not a number", in.Symbol, []string{"price", "volatility"}[i], s)
			}
			*dst = v
		}
	}
	if s := field(5); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Instrument{}, fmt.Errorf("%s: avg_volume %q is not a whole number", in.Symbol, s)
		}
		in.AvgVolume = v
	}
	return in, in.validate()
}

// madeUpInstrument gives a symbol without a profile a plausible one, always the same
// for the same symbol.
func madeUpInstrument(symbol string) Instrument {
	h := fnv.New64a()
	h.Write([]byte(symbol))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
	sectors := []string{"Technology", "Consumer", "Financials", "Energy", "Health Care", "Industrials"}
	return Instrument{
		Symbol:     symbol,
		Name:       symbol,
		Sector:     sectors[r.IntN(len(sectors))],
		Price:      round2(10 * pow10(r.Float64()*1.6)), // 10 to 400
		Volatility: 0.15 + r.Float64()*0.4,
		Drift:      0.03 + r.Float64()*0.07,
		AvgVolume:  int64(1_000_000 * pow10(r.Float64()*1.5)),
	}
}

// universe returns the instruments the feed moves: the configured or default
// universe, narrowed (or extended with made-up profiles) by Symbols.
func (o Options) universe() []Instrument {
	base := o.Universe
	if base == nil {
		base = DefaultUniverse
	}
	if o.Symbols == nil {
		return base
	}
	bySymbol := map[string]Instrument{}
	for _, in := range base {
		bySymbol[in.Symbol] = in
	}
	u := make([]Instrument, 0, len(o.Symbols))
	for _, s := range o.Symbols {
		in, ok := bySymbol[s]
		if !ok {
			in = madeUpInstrument(s)
		}
		u = append(u, in)
	}
	return u
}
