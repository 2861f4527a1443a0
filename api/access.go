package api

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
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
	// TrustedProxies are the reverse proxies whose X-Real-IP and X-Forwarded-For are
	// believed for per-address limits. A request from any other peer is counted against
	// its own TCP address, whatever headers it sends. Empty means trust no one.
	TrustedProxies []netip.Prefix
}

// Realm is the realm a 401 names in its WWW-Authenticate challenge.
const Realm = "tickerboard"

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
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
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
	return bearer(r.Header.Get("Authorization"))
}

// bearer reads the token from an Authorization header. The scheme is case-insensitive
// and may be surrounded by extra spaces (RFC 9110, 11.1 and 11.4).
func bearer(h string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func (a Access) valid(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(a.Token)) == 1
}

// clientIP is the address per-address limits count against: the TCP peer's, unless the
// peer is a trusted proxy. Then X-Real-IP, if it holds one untrusted address, or else
// the rightmost X-Forwarded-For entry that is not itself a trusted proxy (entries to
// its left were written by the client and prove nothing). An unreadable hop ends the
// walk at the last trusted address read.
func (a Access) clientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip := peer.Addr().Unmap()
	if !a.trusted(ip) {
		return ip.String()
	}
	if v, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil && !a.trusted(v.Unmap()) {
		return v.Unmap().String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a hop we cannot read: the chain left of it is not ours to believe
		}
		ip = hop.Unmap()
		if !a.trusted(ip) {
			break
		}
	}
	return ip.String()
}

func (a Access) trusted(ip netip.Addr) bool {
	for _, p := range a.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a comma-separated list of CIDRs (10.0.0.0/8) and single
// addresses (192.0.2.7, ::1).
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR like 10.0.0.0/8", v)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
