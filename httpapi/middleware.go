package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/reqlog"
)

// requestInfo is filled in while a request is served and read by the
// access log and the metrics once it is done.
type requestInfo struct {
	id         string
	route      string
	merchantID string
	keyID      string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

func requestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// requestIDLengthMax bounds a client-supplied X-Request-Id; longer or odd
// ones are replaced.
const requestIDLengthMax = 64

func validRequestID(s string) bool {
	if s == "" || len(s) > requestIDLengthMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// responseWriter records the status and size for logs and metrics.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware adds, outermost first: request ids, security headers, the
// access log and metrics, and panic recovery.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: r.Header.Get("X-Request-Id")}
		if !validRequestID(info.id) {
			info.id = id.New("req")
		}
		info.route = "unmatched" // dispatch names the route it finds
		h := w.Header()
		h.Set("X-Request-Id", info.id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Strict-Transport-Security", "max-age=63072000")
		h.Set("Referrer-Policy", "no-referrer")
		rw := &responseWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "request_id", info.id,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rw.status == 0 {
					writeProblem(rw, r, Problem{Status: http.StatusInternalServerError, Code: "internal_error",
						Detail: "an internal error occurred; the request id identifies it in the server log"})
				}
			}
			s.observe(r, info, rw, time.Since(start))
		}()
		next.ServeHTTP(rw, r)
	})
}

func (s *Server) observe(r *http.Request, info *requestInfo, rw *responseWriter, elapsed time.Duration) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	// Labels come from closed sets (a registered pattern or "unmatched",
	// a known method or "other"): a stranger's random methods and paths
	// cannot add series.
	method := methodLabel(r.Method)
	status := strconv.Itoa(rw.status)
	s.metrics.requests.WithLabelValues(info.route, method, status).Inc()
	s.metrics.duration.WithLabelValues(info.route, method).Observe(elapsed.Seconds())
	// The developers' recent requests: the pattern, never the path's ids
	// or the query (reqlog).
	s.cfg.Requests.Record(info.merchantID, reqlog.Entry{Method: method, Route: info.route, Status: rw.status,
		Latency: elapsed, Time: time.Now().Add(-elapsed).UTC(), RequestID: info.id})
	// The access log names the key by its id, never the key itself; the
	// query string is left out since it could carry anything.
	level := slog.LevelInfo
	if rw.status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", info.route),
		slog.Int("status", rw.status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("remote_ip", clientIP(r)),
		slog.String("merchant", info.merchantID),
		slog.String("key_id", info.keyID),
	)
}

// methodLabel is the method as a metric label: one of HTTP's methods, or
// "other" for anything a client made up.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kassa_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kassa_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}
