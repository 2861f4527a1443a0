package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tickerboard/tickerboard/internal/chromium"
	"github.com/tickerboard/tickerboard/internal/testdb"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "save the README's frontend/screenshot.png from TestBrowserFollowsTheFeeds")

// waitTimeout bounds every wait for the page to show something. The waits poll the
// DOM, so a passing test takes as long as the page needs, not this long.
const waitTimeout = 20 * time.Second

// chromiumPath finds the browser: $CHROMIUM, else Debian's /usr/bin/chromium, else
// a chromium or chrome on PATH. Without one the test is skipped, or fails under CI.
func chromiumPath(t testing.TB) string {
	t.Helper()
	p, err := chromium.Path()
	if err != nil {
		testdb.Require(t, "%v", err)
	}
	return p
}

// newBrowser starts a headless Chromium with a fresh profile, closed when t ends.
// Each test gets its own, so no SharedWorker or localStorage leaks between tests.
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromium.Options(chromiumPath(t), t.TempDir()), extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Do starts the browser and binds it to ctx, which has no deadline.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// tab is one browser tab (in a window of its own, so it gets animation frames) that
// records what a test must never see: uncaught exceptions, CSP violations, dialogs.
type tab struct {
	t       testing.TB
	ctx     context.Context
	browser context.Context
	name    string

	mu       sync.Mutex
	problems []string // exceptions and CSP violations
	dialogs  []string
}

type tabOption func(*tab) error

// withoutSharedWorker loads every page of the tab as a browser without SharedWorker
// would, to prove the page falls back to a stream of its own.
func withoutSharedWorker(tb *tab) error {
	return chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: "delete window.SharedWorker;"})
		return err
	}))
}

// withReducedMotion makes the tab's pages see prefers-reduced-motion: reduce.
func withReducedMotion(tb *tab) error {
	return emulateMedia(tb, "prefers-reduced-motion", "reduce")
}

// withDarkScheme makes the tab's pages see prefers-color-scheme: dark.
func withDarkScheme(tb *tab) error {
	return emulateMedia(tb, "prefers-color-scheme", "dark")
}

// inLocale makes the tab's pages format with locale (a BCP 47 tag), as if the
// system's were.
func inLocale(locale string) tabOption {
	return func(tb *tab) error {
		return chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: locale})
			return err
		}))
	}
}

// inTimeZone makes the tab's pages see the time zone zone (an IANA name).
func inTimeZone(zone string) tabOption {
	return func(tb *tab) error {
		return chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
			return err
		}))
	}
}

func emulateMedia(tb *tab, feature, value string) error {
	return chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: feature, Value: value}}})
		return err
	}))
}

// newTab opens a tab in browser. When t ends it saves a screenshot under
// artifacts/browser/ and fails t if the page threw, broke its CSP or opened a dialog.
func newTab(t testing.TB, browser context.Context, name string, opts ...tabOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	tb := &tab{t: t, ctx: ctx, browser: browser, name: name}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("open tab %s: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.problems = append(tb.problems, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	dialogs := make(chan string, 16)
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case dialogs <- string(d.Type) + ": " + d.Message:
			default:
			}
		}
	}); err != nil {
		cancel()
		t.Fatalf("listen to tab %s: %v", name, err)
	}
	go func() { // a dialog blocks the page until answered: record it, dismiss it
		for {
			select {
			case msg := <-dialogs:
				tb.mu.Lock()
				tb.dialogs = append(tb.dialogs, msg)
				tb.mu.Unlock()
				chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			case <-ctx.Done():
				return
			}
		}
	}()
	for _, opt := range opts {
		if err := opt(tb); err != nil {
			cancel()
			t.Fatalf("set up tab %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		tb.screenshot()
		cancel()
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, p := range tb.problems {
			t.Errorf("tab %s: %s", name, p)
		}
		for _, d := range tb.dialogs {
			t.Errorf("tab %s: a dialog opened: %s", name, d)
		}
	})
	return tb
}

// open loads the board at url and waits until it is live with its snapshot on the
// page: received is not enough, the snapshot is painted in the next animation frame.
func (tb *tab) open(url string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		tb.t.Fatalf("tab %s: load %s: %v", tb.name, url, err)
	}
	tb.waitFor("the board to be live", `window.tickerboard?.state === 'live' && window.tickerboard.stats.snapshotsShown > 0`)
}

// waitFor polls the page until the JavaScript expression is truthy, failing the test
// with what it waited for and the page's state when it never is.
func (tb *tab) waitFor(what, expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		tb.t.Fatalf("tab %s: waiting for %s: %v\n  condition: %s\n  page: %s", tb.name, what, err, expr, tb.describe())
	}
}

// describe summarises the page for a failure message.
func (tb *tab) describe() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		state: window.tickerboard?.state, mode: window.tickerboard?.mode,
		lastId: window.tickerboard?.lastId, stats: window.tickerboard?.stats,
		text: document.querySelector('main')?.innerText.slice(0, 1500)})`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// eval evaluates expr in tab and decodes its value into T, failing the test on error.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("tab %s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// do runs actions in tab, failing the test on error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("tab %s: %v", tb.name, err)
	}
}

// saveScreenshot saves the viewport, sized width×height, as a PNG at path.
func (tb *tab) saveScreenshot(path string, width, height int64) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height))
	var shot []byte
	if err == nil {
		shot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err == nil {
		err = os.WriteFile(path, shot, 0o644)
	}
	if err != nil {
		tb.t.Fatalf("tab %s: save screenshot %s: %v", tb.name, path, err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// screenshot saves the tab as artifacts/browser/<test>[-<tab>].png at the repo root.
func (tb *tab) screenshot() {
	dir, err := artifactsDir()
	if err != nil {
		tb.t.Logf("no screenshot: %v", err)
		return
	}
	name := unsafeName.ReplaceAllString(tb.t.Name(), "_")
	if tb.name != "" {
		name += "-" + tb.name
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("no screenshot of tab %s: %v", tb.name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Logf("save screenshot: %v", err)
	}
}

// artifactsDir is artifacts/browser/ at the module root (found from go.mod), created
// if missing.
func artifactsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "artifacts", "browser")
	return out, os.MkdirAll(out, 0o755)
}

// js quotes s as a JavaScript string literal, for building expressions from data.
func js(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// streamRequest is one request a target made for the event stream.
type streamRequest struct {
	URL         string // path and query
	LastEventID string // the Last-Event-ID header, "" if none
}

// streams records the requests for /events that one target (a tab, or the shared
// worker that streams for the tabs) sends, with the headers the network stack really
// sent (Last-Event-ID is added below the page, so it shows only in the extra info).
type streams struct {
	mu      sync.Mutex
	order   []network.RequestID
	urls    map[network.RequestID]string
	lastIDs map[network.RequestID]string
}

// recordStreams starts recording ctx's target's /events requests.
func recordStreams(t testing.TB, ctx context.Context) *streams {
	t.Helper()
	s := &streams{urls: map[network.RequestID]string{}, lastIDs: map[network.RequestID]string{}}
	err := chromedp.Listen(ctx, func(ev any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if u, err := url.Parse(e.Request.URL); err == nil && u.Path == "/events" {
				s.order = append(s.order, e.RequestID)
				s.urls[e.RequestID] = u.RequestURI()
			}
		case *network.EventRequestWillBeSentExtraInfo:
			for k, v := range e.Headers {
				if strings.EqualFold(k, "Last-Event-ID") {
					s.lastIDs[e.RequestID] = fmt.Sprint(v)
				}
			}
		}
	})
	if err == nil {
		_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
	}
	if err != nil {
		t.Fatalf("record stream requests: %v", err)
	}
	return s
}

// requests lists the stream requests so far, oldest first.
func (s *streams) requests() []streamRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]streamRequest, len(s.order))
	for i, id := range s.order {
		out[i] = streamRequest{URL: s.urls[id], LastEventID: s.lastIDs[id]}
	}
	return out
}

// sharedWorker attaches to the shared worker that streams for the tabs of browser
// (a tab must have loaded the board), leaving it running when t ends.
func sharedWorker(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	targets, err := chromedp.Targets(browser)
	if err != nil {
		t.Fatalf("list targets: %v", err)
	}
	for _, info := range targets {
		if info.Type == "shared_worker" && strings.HasSuffix(info.URL, "/js/feed-worker.js") {
			ctx, cancel := chromedp.NewContext(browser, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
			if err := chromedp.Do(ctx); err != nil {
				cancel()
				t.Fatalf("attach to the shared worker: %v", err)
			}
			t.Cleanup(cancel)
			return ctx
		}
	}
	t.Fatalf("no shared worker among %d targets", len(targets))
	return nil
}
