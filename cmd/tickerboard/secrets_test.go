package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// Neither -h, nor a mistyped flag, nor a bad or unreachable database prints the token
// or the database password.
func TestSecretsAreNeverPrinted(t *testing.T) {
	const token, password = "tok-3f9a1c", "pw-77e2b0"
	urls := []string{
		"postgres://app:" + password + "@127.0.0.1:1/tickerboard?sslmode=disable", // unreachable
		"postgres://app:" + password + "@127.0.0.1:notaport/tickerboard",          // malformed
		"postgres://app:" + password + "@[::1/tickerboard",                        // malformed
		"host=127.0.0.1 port=1 user=app password=" + password + " dbname=tickerboard",
		"host=127.0.0.1 port=x user=app password='" + password + "'",
	}
	for _, u := range urls {
		env := map[string]string{"TICKERBOARD_TOKEN": token, "DATABASE_URL": u}
		getenv := func(k string) string { return env[k] }
		for _, args := range [][]string{{"-h"}, {"-tokne", "x"}, {"-feeds", "none"}, {"migrate", "-h"}, {"migrate", "version"}, {"migrate", "-bogus"}} {
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := run(ctx, args, getenv, &out, &errOut)
			cancel()
			all := out.String() + errOut.String()
			if err != nil {
				all += err.Error()
			}
			if strings.Contains(all, token) || strings.Contains(all, password) {
				t.Errorf("run(%v) with DATABASE_URL %q printed a secret:\n%s", args, u, all)
			}
			if args[0] == "-h" && !strings.Contains(all, "env DATABASE_URL, default postgres://") {
				t.Errorf("-h does not say where the URL comes from:\n%s", all)
			}
		}
	}
}

func TestConfigSecretsAndProxies(t *testing.T) {
	env := map[string]string{"TICKERBOARD_TOKEN": "t1", "DATABASE_URL": "postgres://a:b@h/d", "TICKERBOARD_TRUSTED_PROXIES": "10.0.0.0/8,::1"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig(nil, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.access.Token != "t1" || c.databaseURL != "postgres://a:b@h/d" || len(c.access.TrustedProxies) != 2 || c.maxPerIP != 64 {
		t.Fatalf("from env: %+v", c)
	}
	c, err = parseConfig([]string{"-token", "t2", "-database-url", "postgres://x@y/z", "-trusted-proxies", ""}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.access.Token != "t2" || c.databaseURL != "postgres://x@y/z" || len(c.access.TrustedProxies) != 0 {
		t.Fatalf("flags over env: %+v", c)
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"TICKERBOARD_TRUST_PROXY": "true"}, "TICKERBOARD_TRUSTED_PROXIES"},
		{[]string{"-trust-proxy"}, nil, "TICKERBOARD_TRUSTED_PROXIES"},
		{[]string{"-trusted-proxies", "nginx"}, nil, "-trusted-proxies"},
		{nil, map[string]string{"TICKERBOARD_MAX_STREAMS_PER_IP": "many"}, "TICKERBOARD_MAX_STREAMS_PER_IP"},
	} {
		if _, err := parseConfig(bad.args, func(k string) string { return bad.env[k] }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("parseConfig(%v, %v) = %v, want an error naming %s", bad.args, bad.env, err, bad.want)
		}
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"TICKERBOARD_TRUST_PROXY": "false"}[k] }, &bytes.Buffer{}); err != nil {
		t.Errorf("TICKERBOARD_TRUST_PROXY=false (harmless) refused: %v", err)
	}
}
