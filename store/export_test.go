package store

// QuoteJSON lets the tests hold the Go-built price payload to the schema's quote_json.
var QuoteJSON = quoteJSON

// QuoteChangeFixed and QuoteChangeBig are quoteChange's two ways, to hold one to the other.
var QuoteChangeFixed, QuoteChangeBig = quoteChangeFixed, quoteChangeBig

// FullXid lets the tests hold the capture's 64-bit xids to the schema's tickerboard_full_xid.
var FullXid = fullXid

// SetCaptureSession tells n which session its own WAL capture appends from, as
// Capture.Run does.
func SetCaptureSession(n *Notifier, pid uint32) { n.captureSession(pid) }

// PruneWalk is how many events Prune reads per query.
const PruneWalk = pruneWalk
