package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer, realIP string
		xff                []string
		want               string
	}{
		{"untrusted peer, no headers", "203.0.113.9:5000", "", nil, "203.0.113.9"},
		{"untrusted peer spoofs X-Real-IP", "203.0.113.9:5000", "1.2.3.4", nil, "203.0.113.9"},
		{"untrusted peer spoofs XFF", "203.0.113.9:5000", "", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer, X-Real-IP", "10.1.2.3:80", "198.51.100.4", nil, "198.51.100.4"},
		{"single trusted address", "192.0.2.7:80", "198.51.100.4", nil, "198.51.100.4"},
		{"next to a trusted address", "192.0.2.8:80", "198.51.100.4", nil, "192.0.2.8"},
		{"trusted peer, X-Real-IP padded", "10.1.2.3:80", "  198.51.100.4 ", nil, "198.51.100.4"},
		{"trusted peer, X-Real-IP garbage, XFF", "10.1.2.3:80", "not-an-ip", []string{"198.51.100.5"}, "198.51.100.5"},
		{"X-Real-IP with a port is garbage", "10.1.2.3:80", "198.51.100.4:99", nil, "10.1.2.3"},
		{"X-Real-IP a trusted proxy: walk XFF", "10.1.2.3:80", "10.9.9.9", []string{"198.51.100.6, 10.9.9.9"}, "198.51.100.6"},
		{"XFF: rightmost untrusted", "10.1.2.3:80", "", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5"}, "198.51.100.7"},
		{"XFF spoofed on the left is ignored", "10.1.2.3:80", "", []string{"1.1.1.1, 198.51.100.8"}, "198.51.100.8"},
		{"XFF over several headers", "10.1.2.3:80", "", []string{"1.1.1.1", "198.51.100.9, 10.0.0.2"}, "198.51.100.9"},
		{"XFF all trusted: leftmost hop", "10.1.2.3:80", "", []string{"10.0.0.7, 10.0.0.8"}, "10.0.0.7"},
		{"XFF garbage hop stops the walk", "10.1.2.3:80", "", []string{"198.51.100.1, bogus, 10.0.0.8"}, "10.0.0.8"},
		{"XFF all garbage", "10.1.2.3:80", "", []string{"<script>, , ;;"}, "10.1.2.3"},
		{"XFF empty", "10.1.2.3:80", "", []string{""}, "10.1.2.3"},
		{"IPv6 untrusted peer", "[2001:db8::1]:443", "1.2.3.4", nil, "2001:db8::1"},
		{"IPv6 trusted peer, IPv6 client", "[fd00::1]:443", "", []string{"2001:db8::2"}, "2001:db8::2"},
		{"IPv4-mapped IPv6 peer is trusted as IPv4", "[::ffff:10.0.0.1]:80", "198.51.100.3", nil, "198.51.100.3"},
		{"IPv4-mapped client is shown as IPv4", "10.0.0.1:80", "::ffff:198.51.100.3", nil, "198.51.100.3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/events", nil)
			r.RemoteAddr = c.peer
			if c.realIP != "" {
				r.Header.Set("X-Real-IP", c.realIP)
			}
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := (Access{TrustedProxies: proxies}).clientIP(r); got != c.want {
				t.Errorf("clientIP = %q, want %q", got, c.want)
			}
			if got, want := (Access{}).clientIP(r), netip.MustParseAddrPort(c.peer).Addr().Unmap().String(); got != want {
				t.Errorf("with no trusted proxies clientIP = %q, want the peer %q", got, want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0", "true"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
	got, err := ParseTrustedProxies(" 10.1.2.3/8 ,,::1, 192.0.2.7 ")
	if err != nil || len(got) != 3 || got[0].String() != "10.0.0.0/8" || got[1].String() != "::1/128" || got[2].String() != "192.0.2.7/32" {
		t.Fatalf("ParseTrustedProxies = %v, %v", got, err)
	}
	if got, err := ParseTrustedProxies(""); err != nil || got != nil {
		t.Fatalf("empty: %v, %v", got, err)
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BEARER abc": "abc", "  Bearer    abc ": "abc",
		"Basic abc": "", "Bearerabc": "", "": "", "Bearer": "", "abc": "",
	} {
		if got := bearer(h); got != want {
			t.Errorf("bearer(%q) = %q, want %q", h, got, want)
		}
	}
}
