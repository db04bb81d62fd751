package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
)

// pagePatterns are the hosted pages Config.Pages serves.
var pagePatterns = []string{"GET /pay/{id}", "POST /pay/{id}", "POST /pay/{id}/pin", "GET /3ds/{id}", "POST /3ds/{id}",
	"GET /i/{id}", "POST /i/{id}", "GET /i/{id}/pdf"}

// registerPages mounts Config.Pages, the hosted pages (package web), for
// pagePatterns. They get the server's middleware (request ids, access
// log and metrics by route pattern, panic recovery) and the per-client-IP
// rate limit, but not the API's problem errors: a page answers in HTML,
// and limits its own bodies.
func (s *Server) registerPages() {
	if s.cfg.Pages == nil {
		return
	}
	h := s.pageLimit(s.cfg.Pages)
	for _, p := range pagePatterns {
		s.mux.Handle(p, h)
		method, pattern, _ := strings.Cut(p, " ")
		s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Auth: AuthNone})
	}
}

// RoutedHandler is a handler that says which patterns it serves (the
// payer account pages, package web/account).
type RoutedHandler interface {
	http.Handler
	Routes() []string
}

// registerAccounts mounts Config.Accounts for the patterns it names, like
// the payment pages.
func (s *Server) registerAccounts() {
	if s.cfg.Accounts == nil {
		return
	}
	h := s.pageLimit(s.cfg.Accounts)
	for _, p := range s.cfg.Accounts.Routes() {
		s.mux.Handle(p, h)
		method, pattern, _ := strings.Cut(p, " ")
		s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Auth: AuthNone})
	}
}

// registerRouted mounts h (the console) for the patterns it names, like
// the account pages; nil mounts nothing.
func (s *Server) registerRouted(h RoutedHandler) {
	if h == nil {
		return
	}
	limited := s.pageLimit(h)
	for _, p := range h.Routes() {
		s.mux.Handle(p, limited)
		method, pattern, _ := strings.Cut(p, " ")
		s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Auth: AuthNone})
	}
}

// pageLimit applies the per-IP token bucket of unauthenticated calls.
func (s *Server) pageLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiter != nil {
			if wait, ok := s.limiter.allow(ipLimitKey(clientIP(r))); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, "Too many requests. Wait a moment and reload the page.", http.StatusTooManyRequests)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
