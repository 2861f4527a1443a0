package hub

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tickerboard/tickerboard/store"
)

// Frame is one event encoded once for the wire and shared, by reference, by every
// subscriber that wants it.
type Frame struct {
	ID      int64
	Name    string
	Key     string // the symbol of a price, the game id of a score or play
	Game    int64  // Key parsed, for score and play
	Topic   uint8
	Created time.Time // when the change committed; zero if the log's time was not finite
	Bytes   []byte    // the whole SSE frame
	// Xid is the writer's transaction (store.Event.Xid; 0 when the triggers wrote
	// the event): a stream leaves the frame out if its snapshot already saw it.
	Xid uint64

	// rewind marks a reset the notifier published because the log's ids went backwards:
	// every stream sends it, and a snapshot, whatever it has been sent.
	rewind bool
}

// state reports whether the frame carries the latest state of its key (a quote or a
// game), so a slow client may skip older frames of the same key.
func (f *Frame) state() bool { return f.Name == "price" || f.Name == "score" }

// size is what the frame costs the hub's ring: its bytes, its key and the struct.
func (f *Frame) size() int64 { return int64(len(f.Bytes)+len(f.Key)) + frameOverhead }

// frameOverhead approximates a Frame's struct and its ring slot.
const frameOverhead = 128

// Limits on what an event from the log may be; the schema's CHECKs on events say the
// same, but rows written by a superuser, before the CHECKs, or by another capture are
// checked here again.
const (
	MaxPayload  = 16 << 10 // bytes of JSON payload
	maxKeyRunes = 64
	maxNameLen  = 32
	maxFrame    = 32 << 10 // bytes of an encoded frame (a payload of many short lines grows)
)

// Reasons an event is skipped, as in tickerboard_events_skipped_total{reason}.
const (
	skipName    = "name"         // not ^[a-z][a-z0-9_-]{0,31}$
	skipKey     = "key"          // over 64 characters, invalid UTF-8 or a control character
	skipSize    = "payload_size" // payload or encoded frame over its limit
	skipJSON    = "payload_json" // payload not a JSON value
	skipOrder   = "order"        // id not above the hub's newest (and not a rewind)
	skipReasons = 5
)

var skipReasonNames = [skipReasons]string{skipName, skipKey, skipSize, skipJSON, skipOrder}

// FrameError says why an event from the log cannot be carried to viewers.
type FrameError struct {
	ID     int64
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("event %d cannot be sent: %s", e.ID, e.Reason)
}

// NewFrame encodes e, or says why it cannot be carried (a *FrameError).
func NewFrame(e store.Event) (*Frame, error) {
	if reason := check(e); reason != "" {
		return nil, &FrameError{ID: e.ID, Reason: reason}
	}
	f := &Frame{ID: e.ID, Name: e.Name, Key: e.Key, Created: e.CreatedAt, Xid: e.Xid}
	switch e.Name {
	case "price", "market":
		f.Topic = TopicPrice
	case "score", "play":
		f.Topic = TopicScore
		f.Game, _ = strconv.ParseInt(e.Key, 10, 64)
	default:
		f.Topic = TopicAll
	}
	b, err := appendLogEvent(make([]byte, 0, len(e.Payload)+len(e.Name)+32), e.ID, e.Name, e.Payload)
	if err != nil {
		return nil, &FrameError{ID: e.ID, Reason: skipName}
	}
	if len(b) > maxFrame {
		return nil, &FrameError{ID: e.ID, Reason: skipSize}
	}
	f.Bytes = b
	return f, nil
}

// check returns why e cannot be carried, or "".
func check(e store.Event) string {
	switch {
	case !validName(e.Name):
		return skipName
	case !validKey(e.Key):
		return skipKey
	case len(e.Payload) > MaxPayload:
		return skipSize
	case !json.Valid(e.Payload):
		return skipJSON
	}
	return ""
}

// validName is ^[a-z][a-z0-9_-]{0,31}$, the schema's rule for event names.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validKey(s string) bool {
	if len(s) > 4*maxKeyRunes || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxKeyRunes {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
