package store

import "regexp"

// symbolFormat is the quotes_symbol_format constraint (migrations 000001), so a bad
// symbol is refused where it enters — a flag, a CSV, a query parameter — with a
// message naming it, rather than by the database mid-run.
var symbolFormat = regexp.MustCompile(`^[A-Z][A-Z0-9.]{0,9}$`)

// ValidSymbol reports whether s may be a quote's symbol: a capital letter, then up to
// nine capitals, digits or dots.
func ValidSymbol(s string) bool { return symbolFormat.MatchString(s) }
