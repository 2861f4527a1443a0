package main

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// eventParser reads a text/event-stream the way EventSource does (WHATWG HTML, "the
// event stream interpretation": lines end in CRLF, LF or CR; fields "event", "data",
// "id", "retry"; a blank line dispatches), but without allocating per byte, so one
// load-tool process can parse what thousands of clients receive. Its results are
// checked against internal/sse, the project's reference reader, in parse_test.go.
type eventParser struct {
	r          io.Reader
	buf        []byte
	start, end int
	eof        bool

	name    []byte
	data    []byte
	hasData bool
	lastID  []byte
	retry   int64
	comment int
}

func newEventParser(r io.Reader, size int) *eventParser {
	return &eventParser{r: r, buf: make([]byte, size)}
}

// sseEvent is one dispatched event. Its slices are valid until the next call to next.
type sseEvent struct {
	name, id, data []byte
}

var errLineTooLong = errors.New("sse: line longer than 16 MiB")

// next returns the next dispatched event, or the read error (io.EOF at the end). An
// event left unterminated at the end of the stream is discarded, as the standard says.
func (p *eventParser) next() (sseEvent, error) {
	for {
		line, err := p.line()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !p.hasData {
				p.name = p.name[:0]
				continue
			}
			ev := sseEvent{name: p.name, id: p.lastID, data: p.data[:len(p.data)-1]}
			if len(ev.name) == 0 {
				ev.name = messageName
			}
			p.hasData = false
			p.data = p.data[:0]
			p.name = p.name[:0]
			return ev, nil
		}
		if line[0] == ':' {
			p.comment++
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			p.name = append(p.name[:0], value...)
		case "data":
			p.data = append(append(p.data, value...), '\n')
			p.hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.lastID = append(p.lastID[:0], value...)
			}
		case "retry":
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && allDigits(value) {
				p.retry = n
			}
		}
	}
}

var messageName = []byte("message")

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// line returns the next line without its end. The slice is valid until the next call.
func (p *eventParser) line() ([]byte, error) {
	for {
		b := p.buf[p.start:p.end]
		nl := bytes.IndexByte(b, '\n')
		search := b
		if nl >= 0 {
			search = b[:nl]
		}
		if cr := bytes.IndexByte(search, '\r'); cr >= 0 {
			switch {
			case cr+1 < len(b):
				p.start += cr + 1
				if b[cr+1] == '\n' {
					p.start++
				}
				return b[:cr], nil
			case p.eof:
				p.start += cr + 1
				return b[:cr], nil
			}
			// A CR at the end of what we have: the next byte may be its LF.
		} else if nl >= 0 {
			p.start += nl + 1
			return b[:nl], nil
		}
		if p.eof {
			return nil, io.EOF
		}
		if err := p.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more of the stream, moving the unread part to the front (or growing the
// buffer when one line fills it).
func (p *eventParser) fill() error {
	if p.start > 0 {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	if p.end == len(p.buf) {
		if len(p.buf) >= 16<<20 {
			return errLineTooLong
		}
		p.buf = append(p.buf, make([]byte, len(p.buf))...)
	}
	n, err := p.r.Read(p.buf[p.end:])
	p.end += n
	if errors.Is(err, io.EOF) {
		p.eof = true
		return nil
	}
	return err
}

// quoteMark is what the load tool reads from a price event: which symbol, its volume
// (the publisher adds one per change, so it numbers the changes of each symbol) and
// updated_at (the commit, to the microsecond).
type quoteMark struct {
	symbol  []byte
	volume  int64
	updated time.Time
}

var errNoMark = errors.New("price event without symbol, volume and updated_at")

// readMark finds the three fields in a quote's JSON. It is a scanner for this one flat
// object (as Postgres' to_jsonb and the baseline write it), not a JSON parser: the
// load tool must not spend the CPU it is measuring.
func readMark(data []byte) (quoteMark, error) {
	var m quoteMark
	sym, ok := jsonField(data, `"symbol"`)
	if !ok || len(sym) < 2 || sym[0] != '"' {
		return m, errNoMark
	}
	m.symbol = sym[1 : len(sym)-1]
	vol, ok := jsonField(data, `"volume"`)
	if !ok {
		return m, errNoMark
	}
	v, err := strconv.ParseInt(string(vol), 10, 64)
	if err != nil {
		return m, errNoMark
	}
	m.volume = v
	ts, ok := jsonField(data, `"updated_at"`)
	if !ok || len(ts) < 2 {
		return m, errNoMark
	}
	m.updated, err = time.Parse(time.RFC3339Nano, string(ts[1:len(ts)-1]))
	if err != nil {
		return m, errNoMark
	}
	return m, nil
}

// jsonField returns the raw value after key (a quoted name) in a flat JSON object:
// a string with its quotes, or a bare number/literal.
func jsonField(data []byte, key string) ([]byte, bool) {
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return nil, false
	}
	rest := data[i+len(key):]
	j := 0
	for j < len(rest) && (rest[j] == ' ' || rest[j] == ':') {
		j++
	}
	rest = rest[j:]
	if len(rest) == 0 {
		return nil, false
	}
	if rest[0] == '"' {
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		return rest[:end+2], true
	}
	end := bytes.IndexAny(rest, ",} ")
	if end < 0 {
		end = len(rest)
	}
	return rest[:end], true
}
