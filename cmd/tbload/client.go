package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
)

// symbolPrefix names the quotes the load tool owns: TB0000, TB0001, …
const symbolPrefix = "TB"

func symbolName(i int) string { return fmt.Sprintf("%s%04d", symbolPrefix, i) }

// symbolIndex is the i of a TB%04d symbol, or -1 for anyone else's.
func symbolIndex(s []byte) int {
	if len(s) != len(symbolPrefix)+4 || string(s[:len(symbolPrefix)]) != symbolPrefix {
		return -1
	}
	n := 0
	for _, c := range s[len(symbolPrefix):] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// tally is what the clients share while a run goes on. Their counts are their own
// (no cache line bounced between cores per delivery); the progress line sums them.
type tally struct {
	measuring atomic.Bool // record latencies (false during warm-up)
	closing   atomic.Bool // the run is over: streams ending now are not failures
	hists     []*histogram
}

func newTally(shards int) *tally {
	t := &tally{hists: make([]*histogram, shards)}
	for i := range t.hists {
		t.hists[i] = new(histogram)
	}
	return t
}

// client is one viewer: a real TCP connection, an HTTP/1.1 request, and the event
// stream parsed as a browser would. It checks that every change of every symbol
// arrives once and in order, and records commit→receive latency.
type client struct {
	base    *url.URL
	query   string
	tally   *tally
	hist    *histogram
	symbols int

	conn net.Conn
	last []int64 // per symbol: the volume this client is current to (-1: unknown)

	// Read by the progress line while the client runs.
	delivered atomic.Int64 // price events of our symbols received
	covered   atomic.Int64 // changes this client is now current past (received or skipped)
	lastRecv  atomic.Int64 // unix ns of the newest delivery

	gaps, dups int64 // owned by the client's goroutine until it ends
	err        error
}

// connect dials, asks for the stream and reads up to the snapshot.
func (c *client) connect(ctx context.Context) (*eventParser, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.base.Host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.base.Host, err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0) // closing 10,000 clients must not leave 10,000 ports in TIME_WAIT
	}
	c.conn = conn
	path := c.base.Path + "/events" + c.query
	req := "GET " + path + " HTTP/1.1\r\nHost: " + c.base.Host +
		"\r\nUser-Agent: tbload\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("GET %s: Content-Type %q", path, ct)
	}
	p := newEventParser(resp.Body, 8192)
	c.last = make([]int64, c.symbols)
	for i := range c.last {
		c.last[i] = -1
	}
	if err := c.loadSnapshot(p); err != nil {
		return nil, err
	}
	if err := c.checkSnapshot(); err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return p, nil
}

// loadSnapshot reads up to the whole snapshot (the server sends it in parts of at most
// 32 KiB, numbered from 1; internal/sse gathers them as the page does) and takes each
// symbol's starting volume from it. Only the snapshot's events leave the fast parser
// as sse.Event: the price events after it never do.
func (c *client) loadSnapshot(p *eventParser) error {
	var asm sse.SnapshotAssembler
	for {
		ev, err := p.next()
		if err != nil {
			return fmt.Errorf("wait for snapshot: %w", err)
		}
		if string(ev.name) != "snapshot" {
			if asm.Pending() {
				return fmt.Errorf("a %s event between the parts of the snapshot", ev.name)
			}
			continue
		}
		snap, whole, err := asm.Add(sse.Event{ID: string(ev.id), Name: string(ev.name), Data: string(ev.data)})
		if err != nil {
			return err
		}
		if whole {
			return c.loadVolumes(snap.Quotes)
		}
	}
}

// loadVolumes takes the volume of each of our symbols from the snapshot's quotes.
func (c *client) loadVolumes(quotes []json.RawMessage) error {
	for _, raw := range quotes {
		var q struct {
			Symbol string `json:"symbol"`
			Volume int64  `json:"volume"`
		}
		if err := json.Unmarshal(raw, &q); err != nil {
			return fmt.Errorf("decode snapshot quote: %w", err)
		}
		if i := symbolIndex([]byte(q.Symbol)); i >= 0 && i < c.symbols {
			c.last[i] = q.Volume
		}
	}
	return nil
}

// checkSnapshot makes sure the snapshot had every symbol of the run.
func (c *client) checkSnapshot() error {
	for i, v := range c.last {
		if v < 0 {
			return fmt.Errorf("snapshot lacks %s (have the symbols been created?)", symbolName(i))
		}
	}
	return nil
}

// read consumes the stream until it ends, accounting for every price event.
func (c *client) read(p *eventParser) {
	for {
		ev, err := p.next()
		if err != nil {
			c.err = err
			return
		}
		now := time.Now()
		switch string(ev.name) {
		case "price":
			m, err := readMark(ev.data)
			if err != nil {
				c.err = fmt.Errorf("event %s: %w: %.200s", ev.id, err, ev.data)
				return
			}
			i := symbolIndex(m.symbol)
			if i < 0 || i >= c.symbols {
				continue
			}
			c.account(i, m, now)
		case "reset", "snapshot":
			c.err = fmt.Errorf("unexpected %s event %s: %.200s", ev.name, ev.id, ev.data)
			return
		}
	}
}

func (c *client) account(i int, m quoteMark, now time.Time) {
	last := c.last[i]
	switch {
	case m.volume <= last:
		c.dups++
		return
	case m.volume > last+1:
		c.gaps += m.volume - last - 1
	}
	c.covered.Add(m.volume - last)
	c.last[i] = m.volume
	c.delivered.Add(1)
	c.lastRecv.Store(now.UnixNano())
	if c.tally.measuring.Load() {
		c.hist.record(now.Sub(m.updated))
	}
}

// close ends the connection; read then returns.
func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// lost counts the changes this client never became current to, given each symbol's
// final volume.
func (c *client) lost(final []int64) int64 {
	var n int64
	for i, v := range final {
		if c.last[i] < v {
			n += v - c.last[i]
		}
	}
	return n
}

// isClosed tells a read error caused by our own close from a real one.
func isClosed(err error) bool {
	return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

func itoa(n int) string { return strconv.Itoa(n) }
