package store

// QuoteJSON lets the tests hold the Go-built price payload to the schema's quote_json.
var QuoteJSON = quoteJSON
