package store

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pglogrepl"
)

// Type OIDs of the columns a decoded row's JSON is built from in Go.
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidVarchar     = 1043
	oidTimestamptz = 1184
	oidNumeric     = 1700
)

// quoteJSON builds a quotes row's price payload from its decoded text values exactly
// as the schema's quote_json does — to_jsonb(row) plus change and change_pct — so the
// busiest relation's events cost the log one jsonb parse per row rather than a
// record, to_jsonb and numeric arithmetic in SQL (about 5× less Postgres CPU per
// price change, measured in BENCHMARKS.md). It writes the text jsonb itself writes
// (keys shorter first, then bytewise; ", " and ": "; jsonb's escapes), so the bytes
// the capture publishes are the bytes a client resuming from the log reads. ok is
// false for a row it cannot build (a column type it does not know, an unchanged
// TOASTed value): the SQL builds that one. TestQuoteJSONMatchesSQL holds the two to
// the same text.
func quoteJSON(b []byte, rel *pglogrepl.RelationMessage, t *pglogrepl.TupleData) ([]byte, bool) {
	// Each member's value is written to val; the members are then written in
	// jsonb's order.
	var members [16]jsonMember
	ms := members[:0]
	var valBuf [320]byte
	val := valBuf[:0]
	var price, prevClose string
	var havePrice, havePrev bool
	for i, col := range t.Columns {
		if i >= len(rel.Columns) {
			return nil, false
		}
		rc := rel.Columns[i]
		if rc.Name == "change" || rc.Name == "change_pct" {
			continue // quote_json's own change and change_pct replace a column of the name
		}
		start := len(val)
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			val = append(val, "null"...)
			ms = append(ms, jsonMember{rc.Name, start, len(val)})
			continue
		case pglogrepl.TupleDataTypeText:
		default:
			return nil, false
		}
		v := string(col.Data)
		switch rc.DataType {
		case oidNumeric:
			if !isJSONNumber(v) {
				return nil, false // NaN or Infinity: the SQL says what it is
			}
			val = append(val, v...)
			switch rc.Name {
			case "price":
				price, havePrice = v, true
			case "prev_close":
				prevClose, havePrev = v, true
			}
		case oidInt2, oidInt4, oidInt8:
			val = append(val, v...)
		case oidBool:
			if v == "t" {
				val = append(val, "true"...)
			} else {
				val = append(val, "false"...)
			}
		case oidText, oidVarchar:
			val = appendJSONBString(val, v)
		case oidTimestamptz:
			val = appendJSONBString(val, isoTimestamp(v))
		default:
			return nil, false
		}
		ms = append(ms, jsonMember{rc.Name, start, len(val)})
	}
	start := len(val)
	if havePrice && havePrev {
		change, pct, ok := quoteChange(price, prevClose)
		if !ok {
			return nil, false
		}
		val = append(val, change...)
		ms = append(ms, jsonMember{"change", start, len(val)})
		start = len(val)
		val = append(val, pct...)
		ms = append(ms, jsonMember{"change_pct", start, len(val)})
	} else {
		val = append(val, "nullnull"...)
		ms = append(ms, jsonMember{"change", start, start + 4}, jsonMember{"change_pct", start + 4, start + 8})
	}
	// jsonb's order: shorter keys first, equal lengths bytewise (an insertion sort:
	// a dozen members).
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && jsonbKeyLess(ms[j].key, ms[j-1].key); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONBString(b, m.key)
		b = append(b, ": "...)
		b = append(b, val[m.start:m.end]...)
	}
	return append(b, '}'), true
}

// jsonMember is one key of an object being built and where its value's text is.
type jsonMember struct {
	key        string
	start, end int
}

// jsonbKeyLess is jsonb's order of an object's keys: by length, then bytewise.
func jsonbKeyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// appendJSONBString writes s as jsonb writes a string (Postgres's escape_json): \b,
// \f, \n, \r and \t, other control characters as \u00XX, quote and backslash
// escaped, everything else (valid UTF-8 from the server) as it is. The capture's one
// JSON string writer: for the price payloads, whose text must be jsonb's, and for the
// row changes it hands the SQL.
func appendJSONBString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// isJSONNumber: Postgres's numeric text for a finite value ("-12.3400").
func isJSONNumber(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' && i == 0) {
			return false
		}
	}
	return true
}

// isoTimestamp turns Postgres's ISO text for a timestamptz ("2026-12-01
// 12:30:00.5+00", in the session's zone) into what to_jsonb writes
// ("2026-12-01T12:30:00.5+00:00"); infinity and the like are left as they are.
func isoTimestamp(v string) string {
	sp := strings.IndexByte(v, ' ')
	if sp < 0 || strings.HasSuffix(v, " BC") {
		return v
	}
	s := v[:sp] + "T" + v[sp+1:]
	// The zone offset is the last + or - after the time: "+00", "-03:30", "+05:30:15".
	z := strings.LastIndexAny(s[sp:], "+-")
	if z < 0 {
		return s
	}
	if off := s[sp+z+1:]; len(off) == 2 {
		s += ":00"
	}
	return s
}

// quoteChange computes change = price − prev_close (at the larger scale of the two)
// and change_pct = round((price − prev_close) / prev_close × 100, 4), both as
// numeric text, rounding half away from zero as Postgres's round does.
func quoteChange(price, prev string) (change, pct string, ok bool) {
	if change, pct, ok := quoteChangeFixed(price, prev); ok {
		return change, pct, true
	}
	return quoteChangeBig(price, prev)
}

// quoteChangeBig is quoteChange in big.Int arithmetic, for any size of value.
func quoteChangeBig(price, prev string) (change, pct string, ok bool) {
	p, ps, ok1 := parseDecimal(price)
	c, cs, ok2 := parseDecimal(prev)
	if !ok1 || !ok2 || c.Sign() <= 0 {
		return "", "", false
	}
	scale := max(ps, cs)
	p = rescale(p, ps, scale)
	c = rescale(c, cs, scale)
	d := new(big.Int).Sub(p, c)
	change = formatDecimal(d, scale)
	// (d / c) × 100 at scale 4: d × 10^6 / c, rounded half away from zero.
	num := new(big.Int).Mul(d, big.NewInt(1_000_000))
	q, r := new(big.Int).QuoRem(num, c, new(big.Int))
	r.Abs(r).Lsh(r, 1)
	if r.Cmp(c) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return change, formatDecimal(q, 4), true
}

// quoteChangeFixed is quoteChange in int64 arithmetic, for the values that fit (every
// numeric(14,4) price does); ok is false for the rest, which quoteChange computes
// with big.Int, and for a previous close that is not positive.
func quoteChangeFixed(price, prev string) (change, pct string, ok bool) {
	p, ps, ok1 := parseFixed(price)
	c, cs, ok2 := parseFixed(prev)
	if !ok1 || !ok2 || c <= 0 {
		return "", "", false
	}
	scale := max(ps, cs)
	p, ok1 = rescaleFixed(p, scale-ps)
	c, ok2 = rescaleFixed(c, scale-cs)
	if !ok1 || !ok2 {
		return "", "", false
	}
	d := p - c // both below 10^18 in magnitude: no overflow
	if d <= -maxChangeFixed || d >= maxChangeFixed {
		return "", "", false
	}
	// (d / c) × 100 at scale 4: d × 10^6 / c, rounded half away from zero.
	num := d * 1_000_000
	q, r := num/c, num%c
	if r < 0 {
		r = -r
	}
	if 2*r >= c {
		if num < 0 {
			q--
		} else {
			q++
		}
	}
	return formatFixed(d, scale), formatFixed(q, 4), true
}

// maxChangeFixed bounds a change whose × 10^6 still fits an int64.
const maxChangeFixed = 9_000_000_000_000

// maxFixed bounds the integers parseFixed and rescaleFixed return: 18 digits.
const maxFixed = 1_000_000_000_000_000_000

// parseFixed reads Postgres's numeric text ("-12.3400") as an integer and its scale,
// when it has at most 18 digits.
func parseFixed(s string) (v int64, scale int, ok bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" {
		return 0, 0, false
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			if digits++; digits > 18 {
				return 0, 0, false
			}
			v = v*10 + int64(c-'0')
			if dot {
				scale++
			}
		default:
			return 0, 0, false
		}
	}
	if digits == 0 {
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, scale, true
}

// rescaleFixed multiplies v by 10^by, when the result stays below 10^18.
func rescaleFixed(v int64, by int) (int64, bool) {
	for ; by > 0; by-- {
		if v <= -maxFixed/10 || v >= maxFixed/10 {
			return 0, false
		}
		v *= 10
	}
	return v, true
}

// formatFixed writes v / 10^scale as formatDecimal does.
func formatFixed(v int64, scale int) string {
	var buf, num [40]byte
	out := buf[:0]
	if v < 0 {
		out = append(out, '-')
		v = -v
	}
	d := strconv.AppendInt(num[:0], v, 10)
	if len(d) <= scale { // below 1: "0.00" and the digits
		out = append(out, '0', '.')
		for i := len(d); i < scale; i++ {
			out = append(out, '0')
		}
		return string(append(out, d...))
	}
	out = append(out, d[:len(d)-scale]...)
	if scale > 0 {
		out = append(append(out, '.'), d[len(d)-scale:]...)
	}
	return string(out)
}

func parseDecimal(s string) (*big.Int, int, bool) {
	scale := 0
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		scale = len(s) - dot - 1
		s = s[:dot] + s[dot+1:]
	}
	v, ok := new(big.Int).SetString(s, 10)
	return v, scale, ok
}

func rescale(v *big.Int, from, to int) *big.Int {
	if from == to {
		return v
	}
	return new(big.Int).Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-from)), nil))
}

func formatDecimal(v *big.Int, scale int) string {
	neg := v.Sign() < 0
	digits := new(big.Int).Abs(v).String()
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}
