// Package nginx runs Debian's nginx with the project's own deploy/nginx.conf in front
// of Tickerboard instances on loopback, for the tests and the load tool, so traffic
// goes the way it would in production.
package nginx

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Proxy is a running nginx.
type Proxy struct {
	URL  string    // http://127.0.0.1:port
	Cmd  *exec.Cmd // the master process
	dir  string
	done chan error
}

var listen80 = regexp.MustCompile(`(?m)^(\s*)listen 80;`)

// Start runs nginx (the binary at bin) in the foreground on a free loopback port with
// the site file conf, its upstream set to upstreams (host:port each), sized for conns
// client connections, and returns once it answers /healthz.
func Start(ctx context.Context, bin, conf string, upstreams []string, conns int, stderr io.Writer) (*Proxy, error) {
	site, err := os.ReadFile(conf)
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	replaced := listen80.ReplaceAllString(string(site), "${1}listen "+addr+" backlog=4096;")
	if replaced == string(site) {
		return nil, fmt.Errorf("nginx: %s has no `listen 80;` line to replace", conf)
	}
	dir, err := os.MkdirTemp("", "tickerboard-nginx-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "server %s; ", u)
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes auto;
worker_rlimit_nofile %[4]d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections %[4]d; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream tickerboard_local { %[3]s}
    map $host $tickerboard_upstream { default tickerboard_local; }
    include %[2]s/site.conf;
}
`, user, dir, servers.String(), 2*conns+512)
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(replaced), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	p := &Proxy{Cmd: cmd, dir: dir, URL: "http://" + addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx exited (%v): %s", err, log)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("nginx at %s did not answer /healthz within 15s: %v", p.URL, err)
		}
		time.Sleep(50 * time.Millisecond) // polling readiness: nothing to await
	}
}

// Stop ends nginx at once (a graceful stop would wait for the streams) and removes its
// files.
func (p *Proxy) Stop() {
	p.Cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: a graceful one waits for streams
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
	os.RemoveAll(p.dir)
}
