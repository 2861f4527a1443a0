// Package api is Tickerboard's HTTP face: routes, the JSON API, who may stream and how
// many, health checks, metrics, and the embedded page. /events hands each stream to
// the streaming engine in api/hub, which owns it from then on.
package api

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/store"
)

// Board is what the API reads from the database.
type Board interface {
	Position(ctx context.Context) (store.Position, error)
	EventsAfter(ctx context.Context, after, through int64, limit int) ([]store.Event, error)
	Snapshot(ctx context.Context, f store.Filter) (store.Snapshot, error)
	QuotesJSON(ctx context.Context) ([]byte, error)
	QuoteHistoryJSON(ctx context.Context, symbol string, limit int) ([]byte, error)
	GamesJSON(ctx context.Context) ([]byte, error)
	GameJSON(ctx context.Context, id int64) ([]byte, error)
	Ping(ctx context.Context) error
}

// Deps is everything the server needs; cmd builds it.
type Deps struct {
	Board  Board
	Hub    *hub.Hub // the streaming engine: /events hands each stream to it
	Static fs.FS    // the page, served at /
	Logger *slog.Logger
	// Listening reports whether the notifier's LISTEN connection is up; /readyz is 503
	// while it is not, so load balancers send new viewers elsewhere.
	Listening func() bool
	Gauges    Gauges
	Limits    Limits
	Access    Access
}

type server struct {
	board   Board
	hub     *hub.Hub
	static  fs.FS
	logger  *slog.Logger
	ready   func() bool
	limits  *limiter
	access  Access
	metrics *metrics
}

// NewServer returns the HTTP handler for every route (see routes.go).
func NewServer(d Deps) http.Handler {
	if d.Listening == nil {
		d.Listening = func() bool { return true }
	}
	s := &server{
		board:   d.Board,
		hub:     d.Hub,
		static:  d.Static,
		logger:  d.Logger,
		ready:   d.Listening,
		limits:  newLimiter(d.Limits),
		access:  d.Access,
		metrics: newMetrics(d.Gauges).withHub(d.Hub),
	}
	return s.routes()
}
