package hub

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tickerboard/tickerboard/internal/sse"
)

func TestAppendEventWireFormat(t *testing.T) {
	cases := []struct {
		name, id, event, data, want string
	}{
		{"plain", "7", "price", `{"a":1}`, "id: 7\nevent: price\ndata: {\"a\":1}\n\n"},
		{"no id", "", "score", "x", "event: score\ndata: x\n\n"},
		{"no name", "1", "", "x", "id: 1\ndata: x\n\n"},
		{"empty data", "1", "reset", "", "id: 1\nevent: reset\ndata: \n\n"},
		{"LF", "2", "m", "a\nb", "id: 2\nevent: m\ndata: a\ndata: b\n\n"},
		{"CR", "2", "m", "a\rb", "id: 2\nevent: m\ndata: a\ndata: b\n\n"},
		{"CRLF", "2", "m", "a\r\nb", "id: 2\nevent: m\ndata: a\ndata: b\n\n"},
		{"LFCR is two breaks", "2", "m", "a\n\rb", "id: 2\nevent: m\ndata: a\ndata: \ndata: b\n\n"},
		{"trailing LF", "2", "m", "a\n", "id: 2\nevent: m\ndata: a\ndata: \n\n"},
		{"leading space kept", "2", "m", " a", "id: 2\nevent: m\ndata:  a\n\n"},
		{"colon in data", "2", "m", "a: b", "id: 2\nevent: m\ndata: a: b\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := appendEvent(nil, c.id, c.event, []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestAppendEventRefusesBadFields(t *testing.T) {
	for _, c := range []struct{ id, name string }{{"1\n2", "x"}, {"1\r", "x"}, {"1\x00", "x"}, {"1", "a\nb"}, {"1", "a\rb"}} {
		if _, err := appendEvent(nil, c.id, c.name, []byte("d")); err == nil {
			t.Errorf("appendEvent(id %q, name %q) accepted", c.id, c.name)
		}
	}
}

func TestCommentsRetryAndHeartbeat(t *testing.T) {
	if got := string(appendComment(nil, "a\nb")); got != ": a\n: b\n\n" {
		t.Errorf("two-line comment: %q", got)
	}
	// retry is a field line that leads the first frame, never a block of its own
	// (go-sse dispatches an empty event for one).
	if got := string(appendRetry(nil, 2000)); got != "retry: 2000\n" {
		t.Errorf("retry: %q", got)
	}
	at := time.Date(2026, 12, 1, 9, 53, 1, 123456789, time.FixedZone("x", 3600))
	beat := string(appendHeartbeat(nil, at, 42, 15*time.Second))
	if want := "event: heartbeat\ndata: {\"time\":\"2026-12-01T08:53:01.123456789Z\",\"head\":42,\"interval_ms\":15000}\n\n"; beat != want {
		t.Errorf("heartbeat %q, want %q", beat, want)
	}
	// A stream that begins with retry and a heartbeat dispatches the heartbeat (no id,
	// JSON data) and sets the retry; nothing empty is dispatched.
	r := sse.NewReader(strings.NewReader(string(appendHeartbeat(appendRetry(nil, 1500), at, 7, time.Second)) + "data: x\n\n"))
	ev, err := r.Next()
	if err != nil || ev.Name != "heartbeat" || ev.ID != "" || r.Retry() != 1500 || !json.Valid([]byte(ev.Data)) {
		t.Fatalf("got %+v, retry %d, err %v", ev, r.Retry(), err)
	}
	if ev, err := r.Next(); err != nil || ev.Data != "x" {
		t.Fatalf("then %+v, %v", ev, err)
	}
}

// A log event's frame: with its id, except a reset's (a client that drops between a
// reset and its snapshot must resume from before the reset). What cannot be encoded
// is an error, never a panic.
func TestAppendLogEvent(t *testing.T) {
	cases := []struct {
		id         int64
		name, want string
		err        bool
	}{
		{7, "price", "id: 7\nevent: price\ndata: {}\n\n", false},
		{8, "reset", "event: reset\ndata: {}\n\n", false},
		{9, "evil\nname", "", true},
		{9, "evil\rname", "", true},
	}
	for _, c := range cases {
		got, err := appendLogEvent(nil, c.id, c.name, []byte("{}"))
		if (err != nil) != c.err || string(got) != c.want {
			t.Errorf("appendLogEvent(%d, %q) = %q, %v; want %q (error %t)", c.id, c.name, got, err, c.want, c.err)
		}
	}
	if got := appendIDEvent([]byte("x"), 1, "a\nb", nil); string(got) != "x" {
		t.Errorf("appendIDEvent with a bad name appended %q", got)
	}
}

// roundTrip encodes an event and parses it back as a browser would.
func roundTrip(t *testing.T, id, name string, data []byte) {
	frame, err := appendEvent(nil, id, name, data)
	if err != nil {
		return // refused fields are tested above
	}
	if name == "" {
		name = "message"
	}
	r := sse.NewReader(bytes.NewReader(frame))
	ev, err := r.Next()
	if err != nil {
		t.Fatalf("parse %q: %v", frame, err)
	}
	// The parser normalises every line break to LF.
	want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
	if ev.ID != id || ev.Name != name || ev.Data != want {
		t.Fatalf("encoded (%q, %q, %q) as %q, parsed back (%q, %q, %q)", id, name, data, frame, ev.ID, ev.Name, ev.Data)
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("1", "price", []byte(`{"symbol":"AAPL"}`))
	f.Add("", "", []byte(""))
	f.Add("9", "m", []byte("a\r\nb\rc\nd"))
	f.Add("9", "m", []byte("\x00\xff\xfe invalid utf-8 \xc3\x28"))
	f.Add("1", "x", []byte(strings.Repeat("long line ", 10000)))
	f.Add("1", "x", []byte("\n\n\r\r\r\n"))
	f.Add("1", "x", []byte(": not a comment"))
	f.Fuzz(func(t *testing.T, id, name string, data []byte) {
		if !utf8.ValidString(name) || strings.ContainsRune(name, 0xFFFD) {
			// Event names we send are ASCII words; the parser decodes the stream as
			// UTF-8, so an invalid name could not round-trip. Data is free-form.
			name = "m"
		}
		if strings.HasPrefix(name, " ") || strings.HasPrefix(id, " ") {
			// The parser drops one leading space of a value; ours are never spaced.
			return
		}
		roundTrip(t, id, name, data)
	})
}
