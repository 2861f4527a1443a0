package api_test

import (
	"io"
	"net/http"
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

func TestStreamCapsSayRetryAfter(t *testing.T) {
	e := newEnvWith(t, 64, func(d *api.Deps) {
		d.Limits = api.Limits{MaxStreams: 3, MaxStreamsPerIP: 2}
		d.Access.TrustProxy = true
	})
	a := e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.1"})
	a.expect("snapshot")
	e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.1"}).expect("snapshot")
	resp, body := do(t, "GET", e.url+"/events", map[string]string{"X-Real-IP": "203.0.113.1"})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "per-ip") {
		t.Fatalf("third stream from one address: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	e.connectWith(t, "", map[string]string{"X-Real-IP": "203.0.113.2"}).expect("snapshot")
	resp, body = do(t, "GET", e.url+"/events", map[string]string{"X-Real-IP": "203.0.113.3"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "total") {
		t.Fatalf("fourth stream: %d %s", resp.StatusCode, body)
	}
	a.close() // a freed slot is reusable once the server sees the client go
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, status := e.tryConnect(t, map[string]string{"X-Real-IP": "203.0.113.3"})
		if status == http.StatusOK {
			c.expect("snapshot")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after the client left: %d", status)
		}
		time.Sleep(10 * time.Millisecond) // the server's release is not observable otherwise
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
