// Package sse reads a text/event-stream the way a browser's EventSource does (WHATWG
// HTML, "Server-sent events", the event stream interpretation). The tests and the load
// tool use it to check exactly what a browser would see.
package sse

import (
	"bufio"
	"io"
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
	started  bool // past the optional byte order mark
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
// It is the browser's view of NextBlock: a block dispatches only if it holds a data
// line, and its name defaults to "message". An event that was not terminated by a
// blank line before the end is discarded, as the standard requires.
func (r *Reader) Next() (Event, error) {
	for {
		b, hasData, err := r.block()
		if err != nil {
			return Event{}, err
		}
		if !hasData {
			continue // the block's name and id are spent; LastID keeps a valid id
		}
		name := b.Event
		if name == "" {
			name = "message"
		}
		return Event{ID: r.lastID, Name: name, Data: b.Data}, nil
	}
}

// line reads one line ended by CRLF, LF or CR, without its end. One byte order mark
// at the start of the stream is dropped, as the standard says.
func (r *Reader) line() ([]byte, error) {
	if !r.started {
		r.started = true
		// Peek past the first byte only when it could begin a mark, so a stream whose
		// first line is shorter than three bytes is not held waiting for more.
		if first, err := r.r.Peek(1); err == nil && first[0] == 0xEF {
			if bom, err := r.r.Peek(3); err == nil && string(bom) == "\uFEFF" {
				r.r.Discard(3)
			}
		}
	}
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
