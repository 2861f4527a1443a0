package store_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pglogrepl"

	"github.com/tickerboard/tickerboard/internal/testdb"
	"github.com/tickerboard/tickerboard/store"
)

// The WAL capture builds price payloads in Go from the decoded row's text; the
// triggers and snapshots use the schema's quote_json. For rows across the range the
// columns allow — every scale of price and previous close, rises and falls, ties at
// the fifth decimal of change_pct, changes that round to zero, NULLs, names with
// every kind of character jsonb escapes — the two are the same text, byte for byte:
// the capture publishes its own bytes, and a client resuming reads the log's.
func TestQuoteJSONMatchesSQL(t *testing.T) {
	_, dbURL := testdb.Open(t)
	testdb.Exec(t, dbURL, `INSERT INTO quotes (symbol, name, price, prev_close, day_open, day_high, day_low, volume)
		SELECT 'R' || i, CASE i % 6 WHEN 0 THEN '' WHEN 1 THEN 'Acme "Q" \ Co' WHEN 2 THEN E'tab\there' WHEN 3 THEN 'Ünïcødé 株式'
		            WHEN 4 THEN E'\b\f\n\r\x01\x1f\x7f/' || chr(8232) ELSE E'\\u0041 \'' END,
		       p, pc, pc, greatest(p, pc), least(p, pc), (i * 7919) % 100000000
		FROM (SELECT i,
		             round((random() * 10 ^ (1 + i % 9))::numeric, i % 5) + 0.0001 AS p,
		             round((random() * 10 ^ (1 + (i * 3) % 9))::numeric, (i * 7) % 5) + 0.0001 AS pc
		      FROM generate_series(1, 3000) i) r;
		INSERT INTO quotes (symbol, price, prev_close) VALUES
		    ('TIE1', 1.00005, 1), ('TIE2', 0.99995, 1), ('TIE3', 100.0050, 200), ('TIE4', 99.9950, 200),
		    ('TIE5', 200.0001, 200), ('TIE6', 199.9999, 200), ('TIE7', 1000.0003, 2000),
		    ('TINY', 0.0001, 9999999999.9999), ('HUGE', 9999999999.9999, 0.0001), ('SAME', 42, 42),
		    ('NEGZ', 9999.9999, 10000), ('POSZ', 10000.0001, 10000), ('NEG', 0.5, 1.25);
		UPDATE quotes SET prev_close = NULL WHERE symbol = 'R7';
		UPDATE quotes SET updated_at = '2026-06-01 12:00:00.5+05:30' WHERE symbol = 'R8'`)
	// The columns as the replication stream describes them.
	ctx := context.Background()
	conn := testdb.Conn(t, dbURL, "")
	if _, err := conn.Exec(ctx, "SET DateStyle = ISO; SET TimeZone = 'Asia/Kolkata'"); err != nil {
		t.Fatal(err)
	}
	rel := &pglogrepl.RelationMessage{RelationName: "quotes"}
	rows, err := conn.Query(ctx, `SELECT attname, atttypid FROM pg_attribute
		WHERE attrelid = 'quotes'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		c := &pglogrepl.RelationMessageColumn{}
		if err := rows.Scan(&c.Name, &c.DataType); err != nil {
			t.Fatal(err)
		}
		rel.Columns = append(rel.Columns, c)
		cols = append(cols, "q."+c.Name+"::text")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// Each row's columns in their text forms, as pgoutput sends them.
	rows, err = conn.Query(ctx, "SELECT ARRAY["+strings.Join(cols, ", ")+"] FROM quotes q ORDER BY symbol")
	if err != nil {
		t.Fatal(err)
	}
	type built struct{ symbol, payload string }
	var all []built
	for rows.Next() {
		var vals []*string
		if err := rows.Scan(&vals); err != nil {
			t.Fatal(err)
		}
		tuple := &pglogrepl.TupleData{}
		for _, v := range vals {
			col := &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeNull}
			if v != nil {
				col.DataType, col.Data = pglogrepl.TupleDataTypeText, []byte(*v)
			}
			tuple.Columns = append(tuple.Columns, col)
		}
		payload, ok := store.QuoteJSON(nil, rel, tuple)
		if !ok {
			t.Fatalf("QuoteJSON refused %v", vals)
		}
		all = append(all, built{*vals[0], string(payload)})
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	mismatched := 0
	for _, b := range all {
		var same bool
		var sql string
		if err := conn.QueryRow(ctx, `SELECT $1 = quote_json(q)::text, quote_json(q)::text FROM quotes q WHERE symbol = $2`,
			b.payload, b.symbol).Scan(&same, &sql); err != nil {
			t.Fatalf("%s: %v\n%s", b.symbol, err, b.payload)
		}
		if !same {
			mismatched++
			if mismatched <= 5 {
				t.Errorf("%s:\n Go:  %s\n SQL: %s", b.symbol, b.payload, sql)
			}
		}
	}
	if mismatched > 0 {
		t.Fatalf("%d of %d payloads differ", mismatched, len(all))
	}
	t.Logf("%d payloads identical", len(all))
}

// The int64 way of computing a quote's change must give what the big.Int way gives
// wherever it takes the values on: random prices and closes of every scale and size
// numeric(14,4) allows and beyond, ties at the fifth decimal, signs.
func TestQuoteChangeFixedMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	number := func() string {
		v := r.Int64N(1_000_000_000_000_000_000) >> r.IntN(60)
		s := strconv.FormatInt(v, 10)
		if scale := r.IntN(6); scale > 0 {
			if len(s) <= scale {
				s = strings.Repeat("0", scale-len(s)+1) + s
			}
			s = s[:len(s)-scale] + "." + s[len(s)-scale:]
		}
		if r.IntN(8) == 0 {
			s = "-" + s
		}
		return s
	}
	cases := [][2]string{{"1.00005", "1"}, {"0.99995", "1"}, {"100.0050", "200"}, {"99.9950", "200"},
		{"0.0001", "9999999999.9999"}, {"9999999999.9999", "0.0001"}, {"42", "42"}, {"0", "3"}, {"-1.5", "3"}}
	for range 200_000 {
		cases = append(cases, [2]string{number(), number()})
	}
	fast := 0
	for _, c := range cases {
		change, pct, ok := store.QuoteChangeFixed(c[0], c[1])
		if !ok {
			continue
		}
		fast++
		bigChange, bigPct, bigOK := store.QuoteChangeBig(c[0], c[1])
		if !bigOK || change != bigChange || pct != bigPct {
			t.Fatalf("price %s, prev %s: int64 gives %s, %s; big.Int %s, %s, %t", c[0], c[1], change, pct, bigChange, bigPct, bigOK)
		}
	}
	if fast < len(cases)/4 {
		t.Fatalf("the int64 way took only %d of %d cases", fast, len(cases))
	}
	t.Logf("%d of %d cases computed in int64, all as big.Int does", fast, len(cases))
}

func BenchmarkQuoteChange(b *testing.B) {
	for _, way := range []struct {
		name string
		f    func(string, string) (string, string, bool)
	}{{"int64", store.QuoteChangeFixed}, {"big", store.QuoteChangeBig}} {
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				way.f("187.4312", "185.2")
			}
		})
	}
}

// The leader reckons the 64-bit transaction of each price event it publishes itself;
// the log's rows get theirs from tickerboard_full_xid. The two must agree in every
// epoch, on both sides of the append's own 32 bits.
func TestFullXidMatchesSQL(t *testing.T) {
	_, dbURL := testdb.Open(t)
	conn := testdb.Conn(t, dbURL, "")
	ctx := context.Background()
	checked := 0
	for _, epoch := range []uint64{0, 1, 7, 1 << 20} {
		for _, low := range []uint64{3, 1000, 1 << 31, 1<<32 - 1} {
			me := epoch<<32 | low
			for _, xid := range []uint32{3, 999, 1000, 1001, 1 << 31, 1<<32 - 1} {
				if epoch == 0 && uint64(xid) > low {
					continue // a transaction from before the first epoch: none
				}
				var want uint64
				if err := conn.QueryRow(ctx, `SELECT tickerboard_full_xid($1, $2::text::xid8)::text::bigint`,
					int64(xid), strconv.FormatUint(me, 10)).Scan(&want); err != nil {
					t.Fatal(err)
				}
				if got := store.FullXid(xid, me); got != want {
					t.Errorf("xid %d before %d: Go %d, SQL %d", xid, me, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d cases agree", checked)
}
