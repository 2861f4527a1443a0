package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tickerboard/tickerboard/internal/sse"
)

// checkPage checks that the page and the probes answer through nginx with the
// headers the deployment promises.
func checkPage(ctx context.Context, cfg config, stdout io.Writer) error {
	resp, page, err := get(ctx, cfg.base+"/")
	if err != nil {
		return err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		return fmt.Errorf("GET /: Content-Type %q, want text/html", ct)
	}
	if !strings.Contains(strings.ToLower(string(page)), "<html") {
		return fmt.Errorf("GET /: no <html in %q", truncate(page))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		return fmt.Errorf("GET /: Content-Security-Policy %q lacks default-src 'self'", csp)
	}
	if resp.Header.Get("X-Served-By") == "" {
		return fmt.Errorf("GET /: no X-Served-By header: is nginx in front?")
	}
	probes := []struct {
		path     string
		liveJSON bool // live data: JSON, and nginx forbids caching it
	}{{"/healthz", false}, {"/readyz", false}, {"/api/quotes", true}, {"/api/games", true}}
	for _, p := range probes {
		resp, body, err := get(ctx, cfg.base+p.path)
		if err != nil {
			return err
		}
		if !p.liveJSON {
			continue
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			return fmt.Errorf("GET %s: Cache-Control %q, want no-store for live data", p.path, cc)
		}
		if !json.Valid(body) {
			return fmt.Errorf("GET %s: not JSON: %q", p.path, truncate(body))
		}
	}
	resp, body, err := getStatus(ctx, cfg.base+"/api/quotes/NOSUCH/history?limit=1")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("GET /api/quotes/NOSUCH/history: %s, want 404", resp.Status)
	}
	var apiErr struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &apiErr); err != nil || apiErr.Error == "" {
		return fmt.Errorf("GET /api/quotes/NOSUCH/history: body %q is not {\"error\": …}", truncate(body))
	}
	fmt.Fprintf(stdout, "page: %d bytes of html with its CSP; probes, JSON API and error JSON answer through nginx\n", len(page))
	return nil
}

// checkStream checks the start of a stream through nginx: the retry hint, a snapshot
// whose id is the frame's id, then live price events with increasing ids.
func checkStream(ctx context.Context, cfg config, stdout io.Writer) error {
	s, err := openStream(ctx, cfg.base+"/events", "")
	if err != nil {
		return err
	}
	defer s.Close()
	snap, err := awaitSnapshot(s, time.Now().Add(10*time.Second))
	if err != nil {
		return err
	}
	last := snap.ID
	deadline := time.Now().Add(30 * time.Second)
	prices := 0
	for prices < 3 {
		f, err := s.nextEvent(deadline)
		if err != nil {
			return fmt.Errorf("after the snapshot, %d price events: %w", prices, err)
		}
		id, err := frameID(f)
		if err != nil {
			return err
		}
		if id <= last {
			return fmt.Errorf("event id %d after id %d: ids must increase", id, last)
		}
		last = id
		if f.Event == "price" {
			var q struct {
				Symbol string   `json:"symbol"`
				Price  *float64 `json:"price"`
			}
			if err := json.Unmarshal([]byte(f.Data), &q); err != nil || q.Symbol == "" || q.Price == nil {
				return fmt.Errorf("price event %d: data %q is not a quote", id, f.Data)
			}
			prices++
		}
	}
	fmt.Fprintf(stdout, "stream: retry 2000, snapshot id %d (%d quotes, %d games), then live price events up to id %d, served by %s\n",
		snap.ID, len(snap.Quotes), len(snap.Games), last, s.ServedBy)
	return nil
}

// game is the JSON of a game, as in snapshots and score events.
type game struct {
	ID        int64  `json:"id"`
	HomeScore int    `json:"home_score"`
	AwayScore int    `json:"away_score"`
	Status    string `json:"status"`
	Deleted   bool   `json:"deleted"`
}

// awaitSnapshot reads the start of a fresh stream: `retry: 2000`, then the snapshot,
// gathered by internal/sse as the page gathers it. On top it checks what the page
// takes on trust: nothing else comes first, a part is at most 32 KiB, only the last
// part carries an id (the snapshot's), and the last part has all three row arrays.
func awaitSnapshot(s *stream, deadline time.Time) (sse.Snapshot, error) {
	var asm sse.SnapshotAssembler
	retry := false
	for {
		f, err := s.nextEvent(deadline)
		if err != nil {
			return sse.Snapshot{}, fmt.Errorf("waiting for the snapshot: %w", err)
		}
		if f.Retry != "" {
			if f.Retry != "2000" {
				return sse.Snapshot{}, fmt.Errorf("retry: %s, want 2000", f.Retry)
			}
			retry = true
		}
		if f.Event == "" && f.Data == "" {
			continue
		}
		if !retry {
			return sse.Snapshot{}, fmt.Errorf("first frame %q before any retry: 2000", f.Event)
		}
		if f.Event != "snapshot" {
			return sse.Snapshot{}, fmt.Errorf("event %q (%q) before the snapshot was whole", f.Event, truncate([]byte(f.Data)))
		}
		if len(f.Data) > 32<<10 {
			return sse.Snapshot{}, fmt.Errorf("snapshot part of %d bytes, over 32 KiB", len(f.Data))
		}
		snap, whole, err := asm.Add(sse.Event{ID: f.ID, Name: f.Event, Data: f.Data})
		if err != nil {
			return sse.Snapshot{}, err
		}
		if !whole {
			if f.HasID {
				return sse.Snapshot{}, fmt.Errorf("a snapshot part before the last carries id %q: only the last may", f.ID)
			}
			continue
		}
		var rows struct{ Quotes, Games, Plays []json.RawMessage }
		if err := json.Unmarshal([]byte(f.Data), &rows); err != nil || rows.Quotes == nil || rows.Games == nil || rows.Plays == nil {
			return sse.Snapshot{}, fmt.Errorf("snapshot part data %q: want quotes, games, plays arrays", truncate([]byte(f.Data)))
		}
		id, err := frameID(f)
		if err != nil {
			return sse.Snapshot{}, err
		}
		if id != snap.ID {
			return sse.Snapshot{}, fmt.Errorf("snapshot frame id %d, data %q: want the same id", id, truncate([]byte(f.Data)))
		}
		return snap, nil
	}
}

// frameID parses a frame's id, which every event frame must carry.
func frameID(f frame) (int64, error) {
	id, err := strconv.ParseInt(f.ID, 10, 64)
	if !f.HasID || err != nil {
		return 0, fmt.Errorf("event %q has id %q: every event needs the events.id", f.Event, f.ID)
	}
	return id, nil
}

func get(ctx context.Context, url string) (*http.Response, []byte, error) {
	resp, body, err := getStatus(ctx, url)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %q", url, resp.Status, truncate(body))
	}
	return resp, body, err
}

func getStatus(ctx context.Context, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("new request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return resp, body, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
