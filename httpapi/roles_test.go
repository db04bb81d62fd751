package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kassa/kassa/httpapi"
)

// A node without the api role (kassa serve --roles pages,worker) serves
// no /v1 route, not even to a valid key, and keeps its health routes.
func TestNoAPI(t *testing.T) {
	f := newFixture(t, httpapi.Config{NoAPI: true}, nil)
	for _, r := range f.srv.Routes() {
		if strings.HasPrefix(r.Pattern, "/v1") {
			t.Errorf("route %s %s registered without the api role", r.Method, r.Pattern)
		}
	}
	for _, c := range []struct{ method, path, key, body string }{
		{"GET", "/v1/merchant", f.merchant.SecretKey, ""},
		{"GET", "/v1/openapi.json", "", ""},
		{"POST", "/v1/payments", f.merchant.SecretKey, `{"amount":100,"currency":"EUR"}`},
		{"POST", "/v1/ledger/transfers", "", `{}`},
	} {
		resp, body := f.do(t, c.method, c.path, c.key, "application/json", c.body)
		var p struct{ Code string }
		json.Unmarshal(body, &p)
		if resp.StatusCode != 404 || p.Code != "route_not_found" {
			t.Errorf("%s %s = %d %s, want 404 route_not_found", c.method, c.path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := f.do(t, "GET", path, "", "", ""); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
		}
	}
}
