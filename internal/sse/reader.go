// Package sse reads a text/event-stream the way a browser's EventSource does (WHATWG
// HTML, "Server-sent events", the event stream interpretation). The tests and the load
// tool use it to check exactly what a browser would see.
package sse

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// Event is one dispatched event.
type Event struct {
	ID   string // the stream's last event id when this event was dispatched
	Name string // "message" unless the stream named it
	Data string
}

// Reader parses events from a stream.
type Reader struct {
	r        *bufio.Reader
	lastID   string
	retry    int64
	comments int
}

// NewReader reads from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Retry is the last reconnection time the stream set, in milliseconds (0 if none).
func (r *Reader) Retry() int64 { return r.retry }

// Comments counts the comment lines read so far (heartbeats).
func (r *Reader) Comments() int { return r.comments }

// LastID is the last event id the stream set.
func (r *Reader) LastID() string { return r.lastID }

// Next returns the next dispatched event, or the read error (io.EOF at the end).
// An event that was not terminated by a blank line before the end is discarded, as
// the standard requires.
func (r *Reader) Next() (Event, error) {
	var data bytes.Buffer
	hasData := false
	name := ""
	for {
		line, err := r.line()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 { // dispatch
			if !hasData {
				name = ""
				continue
			}
			d := data.Bytes()
			d = d[:len(d)-1] // the last LF appended
			if name == "" {
				name = "message"
			}
			return Event{ID: r.lastID, Name: name, Data: string(d)}, nil
		}
		if line[0] == ':' {
			r.comments++
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
			name = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
			}
		case "retry":
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && isDigits(value) {
				r.retry = n
			}
		}
	}
}

func parseInt(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) }

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// line reads one line ended by CRLF, LF or CR, without its end.
func (r *Reader) line() ([]byte, error) {
	var out []byte
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch c {
		case '\n':
			return out, nil
		case '\r':
			if next, err := r.r.Peek(1); err == nil && next[0] == '\n' {
				r.r.ReadByte()
			}
			return out, nil
		}
		out = append(out, c)
	}
}
