// Package frontend is the live board's web page, embedded in the binary so it works
// offline and ships as one file.
package frontend

import "embed"

// Files holds the page under static/; the server serves static/ at /.
//
//go:embed static
var Files embed.FS
