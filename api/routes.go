package api

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the whole API at a glance.
func (s *server) routes() http.Handler {
	r := mux.NewRouter()
	r.Handle("/events", s.handleEvents()).Methods(http.MethodGet)
	r.Handle("/api/quotes", s.handleQuotes()).Methods(http.MethodGet)
	r.Handle("/api/quotes/{symbol}/history", s.handleQuoteHistory()).Methods(http.MethodGet)
	r.Handle("/api/games", s.handleGames()).Methods(http.MethodGet)
	r.Handle("/api/games/{id}", s.handleGame()).Methods(http.MethodGet)
	r.Handle("/healthz", s.handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", s.handleReadyz()).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+clip(r.URL.Path))
	})
	r.PathPrefix("/api/").Handler(notFound)
	r.PathPrefix("/").Handler(s.handleStatic()).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = notFound
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here")
	})
	return securityHeaders(limitRequest(s.access.cors(s.access.guard(r))))
}

// securityHeaders sets the headers every response carries: the page loads nothing
// but its own files and runs no inline script.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
