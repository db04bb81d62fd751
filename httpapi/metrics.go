package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsRequestsInFlightMax bounds concurrent scrapes; more get 503.
const metricsRequestsInFlightMax = 4

// MetricsHandler serves reg's metrics at GET /metrics for Prometheus, on a
// listener of its own: the public API never serves them, since request
// counts and payment outcomes are business figures. With a token, a scrape
// must send 'Authorization: Bearer <token>' (Prometheus' bearer_token_file)
// or it gets 401 and no figures.
func MetricsHandler(reg prometheus.Gatherer, token string) http.Handler {
	prom := promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: metricsRequestsInFlightMax})
	want := sha256.Sum256([]byte(token))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			// Hashes of equal length, compared in constant time: neither
			// the token nor its length leaks through timing.
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kassa metrics"`)
				http.Error(w, "a bearer token is required", http.StatusUnauthorized)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		prom.ServeHTTP(w, r)
	}))
	return mux
}
