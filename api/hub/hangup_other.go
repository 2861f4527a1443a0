//go:build !linux

package hub

import "errors"

// newHangups has no single-goroutine watcher off Linux; streams stay with net/http.
func newHangups() (hangupWatcher, error) {
	return nil, errors.New("no epoll on this system")
}
