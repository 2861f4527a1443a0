package sse

import (
	"bytes"
	"strconv"
	"strings"
)

// Block is one block of a stream as the server wrote it: the fields up to a blank
// line, whether or not a browser would dispatch it. A checker needs what Next hides
// as a browser does: a retry on its own, a comment-only heartbeat, an id on a block
// without data.
type Block struct {
	ID       string
	HasID    bool
	Event    string
	Data     string // the data lines joined with LF
	Retry    string // as written
	Comments []string
}

// NextBlock returns the next block that holds any field or comment, or the read error
// (io.EOF at the end). It keeps LastID, Retry and Comments as Next does.
func (r *Reader) NextBlock() (Block, error) {
	b, _, err := r.block()
	return b, err
}

// block is the one parser of the field lines, which Next and NextBlock both read
// through. It returns the next non-empty block and whether it held a data line (a
// single empty data line dispatches an event with empty data, so Data == "" cannot
// tell). It applies the fields to the stream as the standard says: an id holding NUL
// is ignored, a retry is taken only if it is all ASCII digits.
func (r *Reader) block() (Block, bool, error) {
	var b Block
	var data []string
	for {
		line, err := r.line()
		if err != nil {
			return Block{}, false, err
		}
		if len(line) == 0 {
			b.Data = strings.Join(data, "\n")
			if b.Event != "" || len(data) > 0 || b.HasID || b.Retry != "" || len(b.Comments) > 0 {
				return b, len(data) > 0, nil
			}
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
		case "":
			r.comments++
			b.Comments = append(b.Comments, string(value))
		case "event":
			b.Event = string(value)
		case "data":
			data = append(data, string(value))
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				b.ID, b.HasID = string(value), true
				r.lastID = b.ID
			}
		case "retry":
			b.Retry = string(value)
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && isDigits(value) {
				r.retry = n
			}
		}
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
