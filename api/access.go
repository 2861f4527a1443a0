package api

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Access decides who may use the server.
type Access struct {
	// Token, if set, is required for /events, /api/ and /metrics: as the
	// tickerboard_token cookie, ?token= or "Authorization: Bearer". EventSource cannot
	// set headers, so a viewer opens /?token=… once; the page sets the cookie and
	// redirects to a clean URL, keeping the token out of history and logs.
	Token string
	// CORSOrigins lists origins (scheme://host[:port]) allowed to read the API from
	// other sites, with credentials. Empty means same-origin only. There is no
	// wildcard: "*" with credentials would hand the stream to any site.
	CORSOrigins []string
	// TrustProxy takes the client address for per-address limits from X-Real-IP
	// (or the last X-Forwarded-For hop) set by a reverse proxy in front.
	TrustProxy bool
}

// TokenCookie is the cookie that carries the access token.
const TokenCookie = "tickerboard_token"

// MaxQueryBytes bounds the query string of any request.
const MaxQueryBytes = 4096

// limitRequest refuses over-long query strings before any handler parses them, and
// malformed ones on the data endpoints, where r.URL.Query() would silently drop the bad
// pair and turn a filter into no filter.
func limitRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > MaxQueryBytes {
			writeError(w, http.StatusRequestURITooLong, "query string longer than 4096 bytes")
			return
		}
		if p := r.URL.Path; p == "/events" || strings.HasPrefix(p, "/api/") {
			if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
				writeError(w, http.StatusBadRequest, "query: malformed query string: "+clip(err.Error()))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cors answers allowed cross-origin requests; others get no CORS headers, so the
// browser keeps their pages from reading anything.
func (a Access) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && slices.Contains(a.CORSOrigins, origin) {
			h := w.Header()
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET")
				h.Set("Access-Control-Allow-Headers", "Last-Event-ID, Authorization")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// guard requires the token on the data endpoints; the page itself, /healthz and
// /readyz stay open so a browser can load and a load balancer can probe.
func (a Access) guard(next http.Handler) http.Handler {
	if a.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if t := r.URL.Query().Get("token"); t != "" && (p == "/" || p == "/index.html") {
			if !a.valid(t) {
				writeError(w, http.StatusUnauthorized, "token: not valid")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: t, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int((30 * 24 * time.Hour).Seconds())})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if p == "/events" || strings.HasPrefix(p, "/api/") || p == "/metrics" {
			if !a.valid(a.presented(r)) {
				writeError(w, http.StatusUnauthorized, "token: missing or not valid (open /?token=… once, or send Authorization: Bearer)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a Access) presented(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return ""
}

func (a Access) valid(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(a.Token)) == 1
}

// clientIP is the address per-address limits count against.
func (a Access) clientIP(r *http.Request) string {
	if a.TrustProxy {
		if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); ip != "" {
			return ip
		}
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
