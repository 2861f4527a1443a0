package api

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/store"
)

// MaxFilterValues bounds ?symbols= and ?games=, so a client cannot make the server hold
// or check an unbounded set per event.
const MaxFilterValues = 100

// badParam is a client error that names the query parameter at fault.
type badParam struct {
	param, msg string
}

func (e *badParam) Error() string { return e.param + ": " + e.msg }

// ParseFilter reads ?topics=, ?symbols= and ?games= (comma-separated). Any bad value is
// an error naming its parameter: a typo must not become a silent, empty stream.
func ParseFilter(q url.Values) (hub.Filter, error) {
	f := hub.Filter{Topics: hub.TopicAll}
	if vals, ok := list(q, "topics"); ok {
		f.Topics = 0
		for _, v := range vals {
			switch v {
			case "price":
				f.Topics |= hub.TopicPrice
			case "score":
				f.Topics |= hub.TopicScore
			default:
				return f, &badParam{"topics", fmt.Sprintf("unknown topic %q (want price, score)", clip(v))}
			}
		}
	}
	if vals, ok := list(q, "symbols"); ok {
		if len(vals) > MaxFilterValues {
			return f, &badParam{"symbols", fmt.Sprintf("at most %d symbols", MaxFilterValues)}
		}
		f.Symbols = make(map[string]struct{}, len(vals))
		for _, v := range vals {
			if !store.ValidSymbol(v) {
				return f, &badParam{"symbols", fmt.Sprintf("bad symbol %q (want 1-10 of A-Z, 0-9, '.', starting with a letter)", clip(v))}
			}
			f.Symbols[v] = struct{}{}
		}
	}
	if vals, ok := list(q, "games"); ok {
		if len(vals) > MaxFilterValues {
			return f, &badParam{"games", fmt.Sprintf("at most %d games", MaxFilterValues)}
		}
		f.Games = make(map[int64]struct{}, len(vals))
		for _, v := range vals {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id < 1 {
				return f, &badParam{"games", fmt.Sprintf("bad game id %q (want a positive integer)", clip(v))}
			}
			f.Games[id] = struct{}{}
		}
	}
	return f, nil
}

// list splits a comma-separated parameter; present-but-empty is an error-free empty
// list only for topics, where it would mean "nothing", so it is treated as a value.
func list(q url.Values, name string) ([]string, bool) {
	raw, ok := q[name]
	if !ok {
		return nil, false
	}
	var out []string
	for _, r := range raw {
		for _, v := range strings.Split(r, ",") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out, true
}

// clip shortens a client's value before it is echoed in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ParseLastEventID reads the resume point from the Last-Event-ID header or, for
// clients that cannot set headers, ?lastEventId=. ok is false when neither is given.
// An id that is not a non-negative integer cannot be one of ours: it comes back as
// UnknownEventID, above any head, so the stream answers reset and a snapshot.
func ParseLastEventID(header string, q url.Values) (id int64, ok bool) {
	raw := header
	if raw == "" {
		raw = q.Get("lastEventId")
	}
	if raw == "" {
		return 0, false
	}
	id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || id < 0 {
		return UnknownEventID, true
	}
	return id, true
}

// UnknownEventID stands for a Last-Event-ID that is not an event id at all.
const UnknownEventID = math.MaxInt64
