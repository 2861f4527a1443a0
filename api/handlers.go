package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tickerboard/tickerboard/store"
)

// writeError is the one place errors become responses: {"error": message}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// fail maps an error to a status. A client's bad parameter is a 400 naming it, a
// missing row a 404; anything else is logged and answered with a bare 500, never
// with internals.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var bad *badParam
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, bad.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// the client left
	default:
		s.logger.Error("request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeJSON(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}

// queryTimeout bounds every JSON API query.
const queryTimeout = 5 * time.Second

func (s *server) jsonHandler(load func(r *http.Request, ctx context.Context) ([]byte, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		data, err := load(r, ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, data)
	})
}

func (s *server) handleQuotes() http.Handler {
	return s.jsonHandler(func(_ *http.Request, ctx context.Context) ([]byte, error) {
		return s.board.QuotesJSON(ctx)
	})
}

// MaxHistory bounds ?limit= on price history.
const MaxHistory = 1000

func (s *server) handleQuoteHistory() http.Handler {
	return s.jsonHandler(func(r *http.Request, ctx context.Context) ([]byte, error) {
		symbol := mux.Vars(r)["symbol"]
		if !store.ValidSymbol(symbol) {
			return nil, &badParam{"symbol", fmt.Sprintf("bad symbol %q", clip(symbol))}
		}
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxHistory {
				return nil, &badParam{"limit", fmt.Sprintf("want an integer from 1 to %d", MaxHistory)}
			}
			limit = n
		}
		return s.board.QuoteHistoryJSON(ctx, symbol, limit)
	})
}

func (s *server) handleGames() http.Handler {
	return s.jsonHandler(func(_ *http.Request, ctx context.Context) ([]byte, error) {
		return s.board.GamesJSON(ctx)
	})
}

func (s *server) handleGame() http.Handler {
	return s.jsonHandler(func(r *http.Request, ctx context.Context) ([]byte, error) {
		raw := mux.Vars(r)["id"]
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id < 1 {
			return nil, &badParam{"id", fmt.Sprintf("bad game id %q (want a positive integer)", clip(raw))}
		}
		return s.board.GameJSON(ctx, id)
	})
}

func (s *server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []byte(`{"status":"ok"}`))
	})
}

// handleReadyz is 200 only when Postgres answers and the LISTEN connection is up: an
// instance that cannot hear changes must not take new viewers.
func (s *server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.board.Ping(ctx); err != nil {
			writeError(w, http.StatusServiceUnavailable, "database unreachable")
			return
		}
		if !s.ready() {
			writeError(w, http.StatusServiceUnavailable, "change listener disconnected")
			return
		}
		writeJSON(w, []byte(`{"status":"ready"}`))
	})
}

// handleStatic serves the page. Embedded files carry no modification time, so each
// gets an ETag from its content: browsers revalidate (no-cache) and get a 304.
func (s *server) handleStatic() http.Handler {
	files := http.FileServerFS(s.static)
	etags := map[string]string{}
	fs.WalkDir(s.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := fs.ReadFile(s.static, p); err == nil {
			sum := sha256.Sum256(b)
			etags["/"+p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		p := r.URL.Path
		if strings.HasSuffix(p, "/") {
			p += "index.html"
		}
		if tag, ok := etags[p]; ok {
			w.Header().Set("ETag", tag) // http.FileServer answers If-None-Match with 304
		}
		files.ServeHTTP(w, r)
	})
}

// startStream sends the headers of an event stream, whatever it then carries: a stream,
// or a refusal that tells the client when to come back.
func startStream(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: never buffer this response
	w.WriteHeader(http.StatusOK)
}

// handleEvents is the SSE stream; the engine (api/hub) serves it.
func (s *server) handleEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query() // well-formed: limitRequest refused the rest
		filter, err := ParseFilter(q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// A malformed Last-Event-ID is an id we do not know: the stream answers reset and
		// a snapshot, as for an id from the future, instead of an error the client's
		// EventSource would never retry.
		resume, resuming := ParseLastEventID(r.Header.Get("Last-Event-ID"), q)
		release, reason := s.limits.acquire(s.access.clientIP(r))
		if release == nil {
			s.metrics.rejected.WithLabelValues(reason).Inc()
			s.refuse(w, reason)
			return
		}
		s.metrics.clients.Inc()

		startStream(w)
		// The stream frees its slot when it ends, which may be after this handler
		// returns: a caught-up stream is served without a goroutine (api/hub).
		err = s.hub.Serve(w, r, filter, resume, resuming, func() { release(); s.metrics.clients.Dec() })
		if err != nil && r.Context().Err() == nil {
			s.logger.Debug("stream ended", "err", err)
		}
	})
}
