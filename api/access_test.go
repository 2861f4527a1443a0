package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/api"
)

func do(t *testing.T, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)) // enough for errors; streams are cut off
	return resp, string(body)
}

func TestTokenGuardsTheDataButNotThePage(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) { d.Access.Token = "s3cret" })
	for _, p := range []string{"/events", "/api/quotes", "/metrics"} {
		if resp, body := do(t, "GET", e.url+p, nil); resp.StatusCode != 401 || !strings.Contains(body, "token") {
			t.Errorf("GET %s without token: %d %s", p, resp.StatusCode, body)
		}
		if resp, _ := do(t, "GET", e.url+p+"?token=wrong", nil); resp.StatusCode != 401 {
			t.Errorf("GET %s with a wrong token: %d", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/", "/healthz", "/readyz"} {
		if resp, _ := do(t, "GET", e.url+p, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d, want it open", p, resp.StatusCode)
		}
	}
	if resp, _ := do(t, "GET", e.url+"/api/quotes", map[string]string{"Authorization": "Bearer s3cret"}); resp.StatusCode != 200 {
		t.Errorf("bearer token refused: %d", resp.StatusCode)
	}
	// Opening the page with ?token= sets an HttpOnly cookie and redirects to a clean URL.
	resp, _ := do(t, "GET", e.url+"/?token=s3cret", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("GET /?token=: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookie := resp.Cookies()
	if len(cookie) != 1 || cookie[0].Name != api.TokenCookie || !cookie[0].HttpOnly || cookie[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", cookie)
	}
	c := e.connectWith(t, "", map[string]string{"Cookie": api.TokenCookie + "=s3cret"})
	c.expect("snapshot")
}

func TestCORSOnlyForListedOriginsNeverWildcard(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) { d.Access.CORSOrigins = []string{"https://board.example"} })
	resp, _ := do(t, "GET", e.url+"/api/quotes", map[string]string{"Origin": "https://board.example"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://board.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("listed origin: %v", resp.Header)
	}
	resp, _ = do(t, "OPTIONS", e.url+"/events", map[string]string{"Origin": "https://board.example", "Access-Control-Request-Method": "GET"})
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, "GET", e.url+"/api/quotes", map[string]string{"Origin": "https://evil.example"})
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("unlisted origin got Access-Control-Allow-Origin %q", v)
	}
	off := newEnv(t, 64)
	resp, _ = do(t, "GET", off.url+"/api/quotes", map[string]string{"Origin": "https://board.example"})
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("CORS off by default, got %q", v)
	}
}

// refusal opens /events and reads a refused stream to its end: a 200 event stream
// with one block, a retry: delay and an "unavailable" event, then EOF.
func refusal(t *testing.T, base string, header map[string]string) (retry int64, data map[string]any) {
	t.Helper()
	resp, body := do(t, "GET", base+"/events", header)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("refused stream: %d %v", resp.StatusCode, resp.Header)
	}
	m := regexp.MustCompile(`^retry: (\d+)\nevent: unavailable\ndata: (\{.*\})\n\n$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("refused stream body %q, want one retry + unavailable block and the end", body)
	}
	retry, _ = strconv.ParseInt(m[1], 10, 64)
	if err := json.Unmarshal([]byte(m[2]), &data); err != nil {
		t.Fatal(err)
	}
	if data["reason"] != "full" || data["retry_ms"] != float64(retry) || data["message"] == "" {
		t.Fatalf("unavailable data %v (retry %d)", data, retry)
	}
	if min, max := api.RefusalRetryMin.Milliseconds(), api.RefusalRetryMax.Milliseconds(); retry < min || retry > max {
		t.Fatalf("retry %d ms outside [%d, %d]", retry, min, max)
	}
	return retry, data
}

// A full instance answers so that EventSource clients retry: 200, retry:, unavailable.
func TestFullServerSaysUnavailableAndWhen(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) {
		d.Limits = api.Limits{MaxStreams: 3, MaxStreamsPerIP: 2}
		d.Access.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	a := e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.1"})
	a.expect("snapshot")
	e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.1"}).expect("snapshot")
	if _, d := refusal(t, e.url, map[string]string{"X-Real-IP": "203.0.113.1"}); d["limit"] != "per-address" {
		t.Fatalf("third stream from one address: %v", d)
	}
	e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.2"}).expect("snapshot")
	seen := map[int64]bool{}
	for range 8 {
		r, d := refusal(t, e.url, map[string]string{"X-Real-IP": "203.0.113.3"})
		if d["limit"] != "total" {
			t.Fatalf("fourth stream: %v", d)
		}
		seen[r] = true
	}
	if len(seen) < 2 {
		t.Errorf("8 refusals all said retry %v: no jitter", seen)
	}
	if v := metricLine(t, e.url, `tickerboard_streams_rejected_total{reason="total"}`); v != 8 {
		t.Errorf("rejected total = %v, want 8", v)
	}
	if v := metricLine(t, e.url, `tickerboard_streams_rejected_total{reason="per-address"}`); v != 1 {
		t.Errorf("rejected per-address = %v, want 1", v)
	}
	a.close() // a freed slot is reusable once the server sees the client go
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.3"})
		if ev := c.next(); ev.Name == "snapshot" {
			break
		} else if ev.Name != "unavailable" {
			t.Fatalf("got %q, want snapshot or unavailable", ev.Name)
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not freed after the client left")
		}
		time.Sleep(10 * time.Millisecond) // the server's release is not observable otherwise
	}
}

// metricLine scrapes one labelled sample from /metrics.
func metricLine(t *testing.T, base, series string) float64 {
	t.Helper()
	_, body := doAll(t, base+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return 0
}

func doAll(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A 401 names its scheme, and the scheme is read as RFC 9110 says: case-insensitively.
func TestUnauthorizedChallengesAndBearerIsCaseInsensitive(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) { d.Access.Token = "s3cret" })
	resp, _ := do(t, "GET", e.url+"/api/quotes", nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="tickerboard"` {
		t.Fatalf("401: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for _, h := range []struct {
		value string
		want  int
	}{
		{"Bearer s3cret", 200},
		{"bearer s3cret", 200},
		{"BEARER s3cret", 200},
		{"  Bearer   s3cret  ", 200},
		{"Bearer s3cre", 401},
		{"Basic s3cret", 401},
		{"Bearers3cret", 401},
		{"s3cret", 401},
		{"Bearer", 401},
	} {
		if resp, _ := do(t, "GET", e.url+"/api/quotes", map[string]string{"Authorization": h.value}); resp.StatusCode != h.want {
			t.Errorf("Authorization %q: %d, want %d", h.value, resp.StatusCode, h.want)
		}
	}
}

// A malformed Last-Event-ID is an unknown id, not a 400 the client would never retry.
func TestMalformedLastEventIDResets(t *testing.T) {
	e := newEnv(t, 64)
	for _, q := range []struct{ query, header string }{
		{"", "abc"}, {"", "-5"}, {"", "99999999999999999999"}, {"?lastEventId=x1", ""},
	} {
		c := e.connectWith(t, q.query, map[string]string{"Last-Event-ID": q.header})
		c.expect("reset")
		c.expect("snapshot")
		c.close()
	}
	resp, _ := do(t, "GET", e.url+"/events?games=x", nil)
	if resp.StatusCode != 400 {
		t.Fatalf("malformed filter: %d, want a 400", resp.StatusCode)
	}
}

func TestOverlongQueryIsRefused(t *testing.T) {
	e := newEnv(t, 64)
	resp, body := do(t, "GET", e.url+"/events?symbols="+strings.Repeat("A", 5000), nil)
	if resp.StatusCode != http.StatusRequestURITooLong || !strings.Contains(body, "query") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestPageHasETagAndRevalidates(t *testing.T) {
	e := newEnv(t, 64)
	resp, _ := do(t, "GET", e.url+"/", nil)
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || tag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /: %d, ETag %q, Cache-Control %q", resp.StatusCode, tag, resp.Header.Get("Cache-Control"))
	}
	resp, _ = do(t, "GET", e.url+"/", map[string]string{"If-None-Match": tag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidate /: %d, want 304", resp.StatusCode)
	}
}
