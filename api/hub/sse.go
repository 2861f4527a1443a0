package hub

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
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
// names are fixed words. A name that cannot be encoded appends nothing (it never
// comes from data: log events go through appendLogEvent, which reports the error).
func appendIDEvent(dst []byte, id int64, name string, data []byte) []byte {
	out, _ := appendEvent(dst, strconv.FormatInt(id, 10), name, data)
	return out
}

// appendLogEvent appends an event of the change log. Its id is the event's, except for
// a reset, which carries none: a viewer that drops after the reset but before the
// snapshot that follows resumes from the id it had, meets the reset again in the log
// and is sent the snapshot, instead of resuming past it to an empty board.
func appendLogEvent(dst []byte, id int64, name string, data []byte) ([]byte, error) {
	if name == "reset" {
		return appendEvent(dst, "", name, data)
	}
	return appendEvent(dst, strconv.FormatInt(id, 10), name, data)
}

// appendHeartbeat appends the heartbeat event: the time and the id of the newest event
// this instance has published, so a page can tell a live feed from a frozen one, and
// proxies and browsers do not time the stream out. It has no id line. Every stream's
// heartbeats, parked or not, are built here.
func appendHeartbeat(dst []byte, now time.Time, head int64, every time.Duration) []byte {
	dst = append(dst, "event: heartbeat\ndata: {\"time\":\""...)
	dst = now.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, "\",\"head\":"...)
	dst = strconv.AppendInt(dst, head, 10)
	dst = append(dst, ",\"interval_ms\":"...)
	dst = strconv.AppendInt(dst, every.Milliseconds(), 10)
	return append(dst, "}\n\n"...)
}

// appendComment appends a comment frame, which EventSource ignores. Each line of text
// is its own comment line.
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

// appendRetry appends the reconnection delay hint in milliseconds as a field line with
// no blank line after it: it must lead the stream's first frame. A block of its own
// would be an empty event, which some clients (go-sse) dispatch.
func appendRetry(dst []byte, ms int64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n')
}

// AppendEvent appends an event without an id, for the events the HTTP side sends of
// its own (a full instance's "unavailable"), so every frame comes from this encoder.
func AppendEvent(dst []byte, name string, data []byte) ([]byte, error) {
	return appendEvent(dst, "", name, data)
}

// AppendRetry appends a retry field (appendRetry).
func AppendRetry(dst []byte, ms int64) []byte { return appendRetry(dst, ms) }
