package api

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// The SSE wire format (WHATWG HTML, "Server-sent events"), in one place. Every frame
// the server sends is built here; events are encoded once and their bytes shared by
// every subscriber.

var errFieldNewline = errors.New("sse: event name and id must not contain CR or LF")

// appendEvent appends one event frame: "id:", "event:", one "data:" line per line of
// data (split on CRLF, CR or LF, as the parser splits them), and the blank line that
// dispatches it. id may be empty (no id line); name may be empty (a "message" event).
// An id or name with CR or LF cannot be encoded and is refused; an id with NUL is too,
// because browsers ignore such ids.
func appendEvent(dst []byte, id, name string, data []byte) ([]byte, error) {
	if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(name, "\r\n") {
		return dst, errFieldNewline
	}
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		dst = appendDataLine(dst, data[:i])
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	dst = appendDataLine(dst, data)
	return append(dst, '\n'), nil
}

func appendDataLine(dst, line []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}

// appendIDEvent is appendEvent for our own events, whose ids are numbers and whose
// names are fixed words, so it cannot fail.
func appendIDEvent(dst []byte, id int64, name string, data []byte) []byte {
	out, err := appendEvent(dst, strconv.FormatInt(id, 10), name, data)
	if err != nil {
		panic("sse: invalid event name " + strconv.Quote(name))
	}
	return out
}

// appendComment appends a comment frame, which EventSource ignores: heartbeats keep
// proxies and the browser from timing the stream out. Each line of text is its own
// comment line.
func appendComment(dst []byte, text string) []byte {
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\r' || r == '\n' }) {
		dst = append(dst, ": "...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
	}
	if text == "" {
		dst = append(dst, ":\n"...)
	}
	return append(dst, '\n')
}

// appendRetry appends the reconnection delay hint in milliseconds.
func appendRetry(dst []byte, ms int64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, "\n\n"...)
}
