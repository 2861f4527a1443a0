package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

func TestReadBuild(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	cases := []struct {
		name              string
		bi                *debug.BuildInfo
		version, revision string
		want              buildInfo
	}{
		{"no build info", nil, "", "", buildInfo{"devel", "unknown", ""}},
		{"go build in a checkout without VCS stamping",
			&debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"}}, "", "",
			buildInfo{"devel", "go1.26.10", ""}},
		{"go install …@v1.2.0",
			&debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "v1.2.0"}}, "", "",
			buildInfo{"v1.2.0", "go1.26.10", ""}},
		{"clean checkout, stamped",
			&debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "v0.0.0-20261201102508-0b6ded2a1b2c"},
				Settings: vcs("0b6ded2a1b2c", "false")}, "", "",
			buildInfo{"v0.0.0-20261201102508-0b6ded2a1b2c", "go1.26.10", "0b6ded2a1b2c"}},
		{"uncommitted changes",
			&debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"}, Settings: vcs("0b6ded2", "true")}, "", "",
			buildInfo{"devel", "go1.26.10", "0b6ded2+dirty"}},
		{"-ldflags -X overrides both",
			&debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"}, Settings: vcs("0b6ded2", "true")},
			"v1.3.0-4-gabcdef0", "abcdef0123",
			buildInfo{"v1.3.0-4-gabcdef0", "go1.26.10", "abcdef0123"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := readBuild(c.bi, c.version, c.revision); got != c.want {
				t.Fatalf("readBuild = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v1.2.3-test"
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "tickerboard v1.2.3-test (" + runtime.Version()
	if !strings.HasPrefix(out.String(), want) || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("tickerboard version printed %q, want one line starting %q", out.String(), want)
	}
	err := run(context.Background(), []string{"version", "--long"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "--long"`) {
		t.Fatalf("tickerboard version --long: %v", err)
	}
}

func TestLoggerFormats(t *testing.T) {
	cases := []struct {
		format  string
		wantErr string
		check   func(string) bool
	}{
		{"text", "", func(s string) bool { return strings.HasPrefix(s, "time=") && strings.Contains(s, "msg=hello k=v") }},
		{"json", "", func(s string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(s), &m) == nil && m["msg"] == "hello" && m["k"] == "v" && m["level"] == "INFO"
		}},
		{"xml", `-log-format "xml": want text or json`, nil},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogger("info", c.format, &buf)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("newLogger(%q) error %v, want %q", c.format, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Info("hello", "k", "v")
			if !c.check(strings.TrimSpace(buf.String())) {
				t.Fatalf("-log-format %s wrote %q", c.format, buf.String())
			}
		})
	}
}

func TestConfigLogFormat(t *testing.T) {
	cases := []struct {
		args    []string
		env     string
		want    string
		wantErr string
	}{
		{nil, "", "text", ""},
		{nil, "json", "json", ""},
		{[]string{"-log-format", "text"}, "json", "text", ""},
		{[]string{"-log-format", "JSON"}, "", "", `-log-format "JSON": want text or json`},
		{nil, "logfmt", "", `-log-format "logfmt": want text or json`},
	}
	for _, c := range cases {
		getenv := func(k string) string {
			if k == "TICKERBOARD_LOG_FORMAT" {
				return c.env
			}
			return ""
		}
		cfg, err := parseConfig(c.args, getenv, io.Discard)
		switch {
		case c.wantErr != "":
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("%v env %q: error %v, want %q", c.args, c.env, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("%v env %q: %v", c.args, c.env, err)
		case cfg.logFormat != c.want:
			t.Errorf("%v env %q: format %q, want %q", c.args, c.env, cfg.logFormat, c.want)
		}
	}
}

// The whole binary with -log-format json: every log line is one JSON object, the
// first says which build is starting, and /metrics carries the same build.
func TestRunLogsItsVersionAsJSON(t *testing.T) {
	defer func(v, r string) { version, revision = v, r }(version, revision)
	version, revision = "v1.2.3-test", "abc123"
	dbURL := testdb.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	stderrR, stderrW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-feeds", "none", "-log-format", "json"},
			func(k string) string {
				if k == "DATABASE_URL" {
					return dbURL
				}
				return ""
			}, stdoutW, stderrW)
		stdoutW.Close()
		stderrW.Close()
		done <- err
	}()
	logLines := make(chan string, 100)
	go func() {
		defer close(logLines)
		sc := bufio.NewScanner(stderrR)
		for sc.Scan() {
			logLines <- sc.Text()
		}
	}()
	first := <-logLines
	var rec map[string]any
	if err := json.Unmarshal([]byte(first), &rec); err != nil {
		t.Fatalf("first log line is not JSON: %q", first)
	}
	if rec["msg"] != "starting" || rec["version"] != "v1.2.3-test" || rec["goversion"] != runtime.Version() || rec["revision"] != "abc123" {
		t.Fatalf("startup log line %v, want msg starting with version, goversion and revision", rec)
	}
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if !strings.HasPrefix(line, "listening on http://") {
		t.Fatalf("server did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, stdoutR)
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `tickerboard_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="v1.2.3-test"} 1`
	if !strings.Contains(string(body), want+"\n") {
		t.Fatalf("/metrics has no %s", want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of cancel")
	}
	for l := range logLines {
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
	}
}
