package feeds

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRegisterDefaults(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := Options{PriceRate: DefaultPriceRate, GameSpeed: DefaultGameSpeed, TradingDay: DefaultTradingDay,
		LiveGames: DefaultLiveGames, KeepFinals: DefaultKeepFinals}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("defaults = %+v, want %+v", o, want)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestRegisterParses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "universe.csv")
	os.WriteFile(file, []byte("# symbol,name,sector,price,volatility,avg_volume\nACME, Acme Corp., Industrials, 42.5, 0.3, 1000000\nzz\n"), 0o600)
	var o Options
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o.Register(fs)
	err := fs.Parse([]string{"-price-rate", "2000", "-game-speed", "60", "-seed", "7", "-symbols", "aapl, MSFT,,BRK.B,AAPL",
		"-symbols-file", file, "-trading-day", "2m", "-live-games", "6", "-keep-finals", "5"})
	if err != nil {
		t.Fatal(err)
	}
	if o.PriceRate != 2000 || o.GameSpeed != 60 || o.Seed != 7 || o.TradingDay != 2*time.Minute || o.LiveGames != 6 || o.KeepFinals != 5 {
		t.Errorf("parsed %+v", o)
	}
	if !reflect.DeepEqual(o.Symbols, []string{"AAPL", "MSFT", "BRK.B"}) {
		t.Errorf("symbols = %q", o.Symbols)
	}
	if len(o.Universe) != 2 || o.Universe[0] != (Instrument{"ACME", "Acme Corp.", "Industrials", 42.5, 0.3, o.Universe[0].Drift, 1_000_000}) ||
		o.Universe[1].Symbol != "ZZ" || o.Universe[1].Price <= 0 {
		t.Errorf("universe = %+v", o.Universe)
	}
}

func TestBadOptionsNameTheProblem(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-symbols", "AAPL,bad-one"}, `symbol "bad-one"`},
		{[]string{"-symbols", " , "}, "no symbols"},
		{[]string{"-symbols", "TOOLONGSYMBOL"}, `"TOOLONGSYMBOL"`},
		{[]string{"-symbols-file", "/nonexistent/universe.csv"}, "symbols file"},
	} {
		var o Options
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.Register(fs)
		err := fs.Parse(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want it to mention %s", c.args, err, c.want)
		}
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{PriceRate: -1}, "price-rate"},
		{Options{PriceRate: 2e6}, "price-rate"},
		{Options{GameSpeed: -3}, "game-speed"},
		{Options{TradingDay: time.Millisecond}, "trading-day"},
		{Options{LiveGames: 1000}, "live-games"},
		{Options{KeepFinals: -1}, "keep-finals"},
		{Options{Symbols: []string{"ok", "A"}}, `"ok"`},
		{Options{Universe: []Instrument{{Symbol: "X", Price: 0, Volatility: 0.2}}}, "X: price 0"},
	} {
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want it to mention %s", c.o, err, c.want)
		}
	}
}

func TestParseUniverseErrors(t *testing.T) {
	for _, c := range []struct{ csv, want string }{
		{"AAPL\nAAPL\n", "line 2: symbol AAPL listed twice"},
		{"AAPL,Apple,Tech,abc\n", `line 1: AAPL: price "abc" is not a number`},
		{"AAPL,Apple,Tech,100,-1\n", "volatility -1"},
		{"AAPL,Apple,Tech,100,0.2,1.5\n", `avg_volume "1.5"`},
		{"AAPL,a,b,1,0.2,1,extra\n", "7 fields"},
		{"# only a comment\n", "no symbols"},
		{"no-good\n", `symbol "NO-GOOD"`},
	} {
		_, err := ParseUniverse(strings.NewReader(c.csv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.csv, err, c.want)
		}
	}
}

func TestUniverseSelection(t *testing.T) {
	u := Options{Symbols: []string{"MSFT", "NEWCO"}}.universe()
	if len(u) != 2 || u[0].Name != "Microsoft Corp." || u[1].Symbol != "NEWCO" {
		t.Fatalf("universe = %+v", u)
	}
	if again := madeUpInstrument("NEWCO"); again != u[1] {
		t.Errorf("made-up profile not stable: %+v vs %+v", again, u[1])
	}
	if err := u[1].validate(); err != nil {
		t.Errorf("made-up profile invalid: %v", err)
	}
	for _, in := range DefaultUniverse {
		if err := in.validate(); err != nil {
			t.Errorf("default universe: %v", err)
		}
	}
}
