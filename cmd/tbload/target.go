package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// plan is the load one run offers: rate events per second, in transactions (or
// in-process ticks) of batch events, for duration, over symbols quotes.
type plan struct {
	rate     float64
	batch    int
	duration time.Duration
	symbols  int
	writers  int // SQL connections committing single-row transactions
}

// target is a server under load: Tickerboard (through Postgres) or the baseline.
type target interface {
	name() string
	baseURL() string
	pid() int // the process whose CPU and memory are reported; 0 if unknown
	// prepare makes sure the plan's symbols exist before clients connect.
	prepare(ctx context.Context, p plan) error
	// publish offers the plan's load and returns how many changes were committed.
	publish(ctx context.Context, p plan) (int64, error)
	// finalVolumes is each symbol's volume after publishing: what every client must
	// end up current to.
	finalVolumes(ctx context.Context, p plan) ([]int64, error)
	// conflated is the server's count of frames it skipped for slow clients.
	conflated(ctx context.Context) (int64, bool)
	close() error
}

// child is a server process the load tool started.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// spawn starts a server that prints "listening on http://HOST:PORT" on stdout.
func spawn(ctx context.Context, path string, args []string, env []string, stderr io.Writer) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, out)
		c.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			c.stop()
			return nil, fmt.Errorf("%s did not start (printed %q)", path, line)
		}
		c.url = u
		return c, nil
	case <-time.After(2 * time.Minute):
		c.stop()
		return nil, fmt.Errorf("%s did not print its address within 2 minutes", path)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and waits, killing the process if it takes more than 15 s.
func (c *child) stop() error {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() {
			return nil
		}
		return err
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within 15s of SIGTERM; killed", c.cmd.Path)
	}
}

// baselineTarget is the minimal broadcaster, in a child process (this binary, run as
// `tbload baseline-server`).
type baselineTarget struct {
	proc *child
}

func startBaseline(ctx context.Context, p plan, stderr io.Writer) (*baselineTarget, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run the baseline: %w", err)
	}
	proc, err := spawn(ctx, self, []string{"baseline-server", "-addr", "127.0.0.1:0", "-symbols", strconv.Itoa(p.symbols)},
		[]string{roleEnv + "=baseline-server"}, stderr)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return &baselineTarget{proc: proc}, nil
}

func (b *baselineTarget) name() string                            { return "baseline" }
func (b *baselineTarget) baseURL() string                         { return b.proc.url }
func (b *baselineTarget) pid() int                                { return b.proc.cmd.Process.Pid }
func (b *baselineTarget) prepare(context.Context, plan) error     { return nil }
func (b *baselineTarget) conflated(context.Context) (int64, bool) { return 0, false }
func (b *baselineTarget) close() error                            { return b.proc.stop() }

func (b *baselineTarget) publish(ctx context.Context, p plan) (int64, error) {
	u := fmt.Sprintf("%s/control/publish?rate=%g&batch=%d&duration=%s", b.proc.url, p.rate, p.batch, p.duration)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("baseline publish: %w", err)
	}
	defer resp.Body.Close()
	rep, err := decodeJSON[publishReport](resp)
	if err != nil {
		return 0, fmt.Errorf("baseline publish: %w", err)
	}
	return rep.Published, nil
}

func (b *baselineTarget) finalVolumes(ctx context.Context, p plan) ([]int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.proc.url+"/control/state", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("baseline volumes: %w", err)
	}
	defer resp.Body.Close()
	rep, err := decodeJSON[publishReport](resp)
	if err != nil {
		return nil, fmt.Errorf("baseline volumes: %w", err)
	}
	return rep.Volumes, nil
}
