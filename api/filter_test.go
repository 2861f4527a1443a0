package api

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tickerboard/tickerboard/api/hub"
)

func mustQuery(t testing.TB, q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseFilterErrorsNameTheParameter(t *testing.T) {
	cases := []struct{ query, param string }{
		{"topics=prices", "topics"},
		{"topics=", "topics"},
		{"symbols=aapl", "symbols"},
		{"symbols=AAPL,", "symbols"},
		{"symbols=TOOLONGSYMBOL", "symbols"},
		{"symbols=" + strings.Repeat("A,", 101) + "A", "symbols"},
		{"games=0", "games"},
		{"games=-3", "games"},
		{"games=x", "games"},
		{"games=99999999999999999999", "games"},
	}
	for _, c := range cases {
		_, err := ParseFilter(mustQuery(t, c.query))
		if err == nil || !strings.HasPrefix(err.Error(), c.param+": ") {
			t.Errorf("ParseFilter(%q) = %v, want an error naming %s", c.query, err, c.param)
		}
	}
	f, err := ParseFilter(mustQuery(t, "topics=price&symbols=AAPL,BRK.B&games=1,2"))
	if err != nil || f.Topics != hub.TopicPrice || len(f.Symbols) != 2 || len(f.Games) != 2 {
		t.Fatalf("valid filter: %+v, %v", f, err)
	}
}

func TestParseLastEventID(t *testing.T) {
	const unknown = UnknownEventID
	cases := []struct {
		header, query string
		id            int64
		ok            bool
	}{
		{"", "", 0, false},
		{"42", "", 42, true},
		{"", "lastEventId=7", 7, true},
		{"9", "lastEventId=7", 9, true}, // the header wins
		{"0", "", 0, true},
		{" 12 ", "", 12, true},
		// not ids of ours: resume "after everything", which answers reset + snapshot
		{"-1", "", unknown, true},
		{"abc", "", unknown, true},
		{"99999999999999999999", "", unknown, true},
		{"", "lastEventId=1e3", unknown, true},
		{"", "lastEventId=%E2%80%8B", unknown, true},
	}
	for _, c := range cases {
		id, ok := ParseLastEventID(c.header, mustQuery(t, c.query))
		if id != c.id || ok != c.ok {
			t.Errorf("ParseLastEventID(%q, %q) = %d, %t; want %d, %t", c.header, c.query, id, ok, c.id, c.ok)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("topics=price&symbols=AAPL", "12")
	f.Add("games=1,2,3&lastEventId=5", "")
	f.Add("symbols=%00%ff", "\x00")
	f.Add("topics=score,price,price", "-9223372036854775808")
	f.Fuzz(func(t *testing.T, query, lastID string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if _, err := ParseFilter(q); err != nil {
			if _, ok := err.(*badParam); !ok {
				t.Fatalf("ParseFilter error %T is not a client error", err)
			}
		}
		if id, ok := ParseLastEventID(lastID, q); ok && id < 0 {
			t.Fatalf("negative id %d accepted", id)
		}
	})
}
