package httpapi_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/httpapi"
)

// TestMetricSeriesBounded is a stranger's attack on the metrics: 10,000
// requests with random methods and paths must not add a series each. The
// method label is a closed set and the route label a registered pattern
// or "unmatched".
func TestMetricSeriesBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, httpapi.Config{Registry: reg}, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	randWord := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	methods := []string{"GET", "POST", "DELETE", "PUT"}
	for i := range 10_000 {
		method := methods[rng.IntN(len(methods))]
		if i%2 == 0 {
			method = randWord(1 + rng.IntN(12))
		}
		path := "/" + strings.ToLower(randWord(1+rng.IntN(20)))
		if i%3 == 0 {
			path = "/v1/payments/" + randWord(10)
		}
		req := httptest.NewRequest(method, path, nil)
		req.RemoteAddr = "192.0.2.1:1234"
		f.srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"other": true}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"} {
		known[m] = true
	}
	routes := map[string]bool{"unmatched": true}
	for _, r := range f.srv.Routes() {
		routes[r.Pattern] = true
	}
	series, stray := 0, 0
	for _, fam := range fams {
		if !strings.HasPrefix(fam.GetName(), "kassa_http_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && !known[l.GetValue()] || l.GetName() == "route" && !routes[l.GetValue()] {
					if stray++; stray <= 5 { // the first few say enough
						t.Errorf("%s has %s label %q", fam.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	if stray > 5 {
		t.Errorf("... and %d more labels outside the closed sets", stray-5)
	}
	// A handful of methods × a few routes × a few statuses.
	if series > 100 {
		t.Errorf("10,000 random requests left %d kassa_http_* series, want at most 100", series)
	}
}

// TestUnmatchedRoutesRateLimited: requests for routes that do not exist
// are limited per client IP like every other unauthenticated request.
func TestUnmatchedRoutesRateLimited(t *testing.T) {
	f := newFixture(t, httpapi.Config{RateLimit: 0.001, RateBurst: 3}, nil)
	codes := map[int]int{}
	for range 10 {
		resp, _ := f.do(t, "GET", "/nowhere", "", "", "")
		codes[resp.StatusCode]++
	}
	if codes[404] != 3 || codes[429] != 7 {
		t.Errorf("10 requests for an unknown route answered %v, want 3×404 and 7×429", codes)
	}
	resp, body := f.do(t, "BREW", "/v1/merchant", "", "", "")
	problem(t, resp, body, 429, "rate_limited")
}

// TestMetricsNotOnAPI: the public API listener does not serve /metrics;
// MetricsHandler does, behind its bearer token when it has one.
func TestMetricsNotOnAPI(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, httpapi.Config{Registry: reg}, nil)
	f.do(t, "GET", "/v1/merchant", f.merchant.SecretKey, "", "")
	resp, body := f.do(t, "GET", "/metrics", "", "", "")
	problem(t, resp, body, 404, "route_not_found")

	get := func(h http.Handler, auth string) (int, string) {
		ts := httptest.NewServer(h)
		defer ts.Close()
		req, _ := http.NewRequestWithContext(context.Background(), "GET", ts.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := `kassa_http_requests_total{method="GET",route="/v1/merchant",status="200"} 1`
	if status, body := get(httpapi.MetricsHandler(reg, ""), ""); status != 200 || !strings.Contains(body, want) {
		t.Errorf("metrics without a token = %d, lacks %s:\n%s", status, want, body)
	}
	h := httpapi.MetricsHandler(reg, "s3cret-token-of-enough-length")
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret-token-of-enough-lengthX", "s3cret-token-of-enough-length"} {
		if status, body := get(h, auth); status != 401 || strings.Contains(body, "kassa_http") {
			t.Errorf("metrics with Authorization %q = %d %q, want 401 and no figures", auth, status, body)
		}
	}
	if status, body := get(h, "Bearer s3cret-token-of-enough-length"); status != 200 || !strings.Contains(body, want) {
		t.Errorf("metrics with the token = %d, lacks %s", status, want)
	}
	if status, _ := get(h, ""); status != 401 {
		t.Errorf("status %d", status)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp2, err := http.Get(ts.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 404 {
		t.Errorf("GET /other on the metrics listener = %d, want 404", resp2.StatusCode)
	}
}
