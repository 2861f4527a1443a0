package store

// QuoteJSON lets the tests hold the Go-built price payload to the schema's quote_json.
var QuoteJSON = quoteJSON

// QuoteChangeFixed and QuoteChangeBig are quoteChange's two ways, to hold one to the other.
var QuoteChangeFixed, QuoteChangeBig = quoteChangeFixed, quoteChangeBig
