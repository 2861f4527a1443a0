// Package migrations holds Tickerboard's schema as numbered SQL files, embedded so the
// binary can migrate any database it is pointed at.
package migrations

import "embed"

// FS holds the NNNNNN_name.up.sql / .down.sql files for golang-migrate's iofs source.
//
//go:embed *.sql
var FS embed.FS
