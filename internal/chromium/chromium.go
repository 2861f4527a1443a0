// Package chromium finds and configures the headless Chromium that the browser tests
// and the load tool's browser mode drive with chromedp.
package chromium

import (
	"errors"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// ErrNotFound means no Chromium was found.
var ErrNotFound = errors.New("chromium not found (set CHROMIUM or install Debian's chromium)")

// Path is $CHROMIUM, or Debian's /usr/bin/chromium, or a Chromium on PATH.
func Path() (string, error) {
	candidates := []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Options starts Chromium at path headless with the profile in dir. Background
// networking, component updates, sync and QUIC are off: this machine reaches no
// outside host, and Chromium would keep trying.
func Options(path, dir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1400, 900),
	)
}
