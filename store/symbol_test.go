package store_test

import (
	"testing"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// ValidSymbol and the database's quotes_symbol_format agree on every case.
func TestValidSymbolAgreesWithTheSchema(t *testing.T) {
	_, db := testdb.Open(t)
	for _, c := range []struct {
		sym  string
		want bool
	}{
		{"AAPL", true}, {"A", true}, {"BRK.B", true}, {"X1234567.9", true},
		{"", false}, {"aapl", false}, {"1ABC", false}, {".A", false}, {"ABCDEFGHIJK", false},
		{"AB-C", false}, {"AB C", false}, {"ÄBC", false}, {"AAPL\n", false},
	} {
		if got := store.ValidSymbol(c.sym); got != c.want {
			t.Errorf("ValidSymbol(%q) = %t, want %t", c.sym, got, c.want)
		}
		err := testdb.ExecErr(db, `INSERT INTO quotes (symbol, price) VALUES ($1, 1)`, c.sym)
		if (err == nil) != c.want {
			t.Errorf("the schema takes %q: %t (%v), ValidSymbol says %t", c.sym, err == nil, err, c.want)
		}
	}
}
