package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tickerboard/tickerboard/internal/nginx"
)

// nginxCPU is the CPU time of the nginx master and its workers so far.
func nginxCPU(p *nginx.Proxy) time.Duration {
	master := p.Cmd.Process.Pid
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

// proxied is a target reached through nginx.
type proxied struct {
	target
	p *nginx.Proxy
}

func (t *proxied) baseURL() string { return t.p.URL }

func (t *proxied) close() error {
	t.p.Stop()
	return t.target.close()
}
