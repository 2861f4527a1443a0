package main

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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proxy is nginx in front of a target, configured with the project's own
// deploy/nginx.conf, so the clients' streams go the way they would in production.
type proxy struct {
	cmd  *exec.Cmd
	dir  string
	url  string
	done chan error
}

var listen80 = regexp.MustCompile(`(?m)^(\s*)listen 80;`)

// startNginx runs nginx (the binary at bin) in the foreground on a free loopback port
// with the site file conf, its upstream set to upstream (host:port), sized for conns
// client connections.
func startNginx(ctx context.Context, bin, conf, upstream string, conns int, stderr io.Writer) (*proxy, error) {
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
	dir, err := os.MkdirTemp("", "tbload-nginx-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
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
    upstream tbload_upstream { server %[3]s; }
    map $host $tickerboard_upstream { default tbload_upstream; }
    include %[2]s/site.conf;
}
`, user, dir, upstream, 2*conns+512)
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
	p := &proxy{cmd: cmd, dir: dir, url: "http://" + addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/healthz", nil)
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
			p.stop()
			return nil, fmt.Errorf("nginx at %s did not answer /healthz within 15s: %v", p.url, err)
		}
		time.Sleep(50 * time.Millisecond) // polling readiness: nothing to await
	}
}

// cpu is the CPU time of the nginx master and its workers so far.
func (p *proxy) cpu() time.Duration {
	master := p.cmd.Process.Pid
	total, _, _ := procTimes(master)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			if own, _, err := procTimes(pid); err == nil {
				total += own
			}
		}
	}
	return total
}

func (p *proxy) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: a graceful one waits for streams
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	os.RemoveAll(p.dir)
}

// proxied is a target reached through nginx.
type proxied struct {
	target
	p *proxy
}

func (t *proxied) baseURL() string { return t.p.url }

func (t *proxied) close() error {
	t.p.stop()
	return t.target.close()
}
