package httpapi_test

import (
	"context"
	"encoding/json"
	"github.com/kassa/kassa/internal/syncbuf"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

// fixture is a server over a real SQLite store with one merchant.
type fixture struct {
	srv      *httpapi.Server
	ts       *httptest.Server
	svc      *merchant.Service
	merchant merchant.Created
	logs     *syncbuf.Buffer
	cfg      httpapi.Config // as given to httpapi.New, defaults filled in
	db       *sqlstore.DB
}

func newFixture(t testing.TB, cfg httpapi.Config, extra func(*httpapi.Server)) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newFixtureDB(t, db, cfg, extra)
}

// newFixtureDB is newFixture over a database the caller opened.
func newFixtureDB(t testing.TB, db *sqlstore.DB, cfg httpapi.Config, extra func(*httpapi.Server)) *fixture {
	t.Helper()
	var err error
	f := &fixture{svc: merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{}), logs: &syncbuf.Buffer{}, db: db}
	f.merchant, err = f.svc.Create(context.Background(), "Test Shop")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Merchants, cfg.DB = f.svc, db
	if cfg.Idempotency == nil {
		cfg.Idempotency = sqlstore.NewIdempotency(db)
		cfg.IdempotencySecret = []byte("test idempotency secret, 32 bytes or more")
	}
	if cfg.Ledger == nil {
		cfg.Ledger = newLedger(t, db)
	}
	if cfg.Webhooks == nil {
		cfg.Webhooks = newWebhookService(db)
	}
	if cfg.Vouchers == nil {
		cfg.Vouchers = newVoucherService(t, db, cfg.Ledger, nil)
	}
	if cfg.Payments == nil {
		cfg.Payments = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: cfg.Ledger, Vouchers: cfg.Vouchers})
	}
	if cfg.Vault == nil {
		cfg.Vault = newVaultService(t, db)
	}
	if cfg.Payouts == nil {
		cfg.Payouts = payout.New(payout.Config{Store: sqlstore.NewPayouts(db), Ledger: cfg.Ledger,
			Rails: map[string]payout.Rail{payout.DestBankAccount: payout.NewTestBank(nil)}})
	}
	if cfg.Invoices == nil {
		cfg.Invoices = invoice.New(invoice.Config{Store: sqlstore.NewInvoices(db), Payments: cfg.Payments, Merchants: f.svc})
	}
	if cfg.Audit == nil {
		cfg.Audit = audit.New(sqlstore.NewAudit(db), nil, id.Generator{})
	}
	if cfg.Compliance == nil {
		cfg.Compliance = compliance.New(compliance.Config{Store: sqlstore.NewCompliance(db), Merchants: f.svc})
	}
	if cfg.Business == nil {
		cfg.Business = business.New(business.Config{Store: sqlstore.NewBusiness(db), Ledger: cfg.Ledger, Payouts: cfg.Payouts})
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	f.cfg = cfg
	f.srv = httpapi.New(cfg)
	if extra != nil {
		extra(f.srv)
	}
	f.ts = httptest.NewTLSServer(f.srv)
	t.Cleanup(f.ts.Close)
	return f
}

// do sends a request and returns the answer and its body; header holds
// more header name, value pairs (empty values are left out).
func (f *fixture) do(t *testing.T, method, path, key, contentType, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// problem checks that a response is a problem with the status and code.
func problem(t *testing.T, resp *http.Response, body []byte, status int, code string) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	for _, k := range []string{"type", "title", "status", "code"} {
		if _, ok := p[k]; !ok {
			t.Errorf("problem lacks %q: %s", k, body)
		}
	}
	if p["code"] != code {
		t.Errorf("code %v, want %s", p["code"], code)
	}
	if int(p["status"].(float64)) != status {
		t.Errorf("problem status %v, want %d", p["status"], status)
	}
	return p
}

func TestHealthAndReady(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, body := f.do(t, "GET", path, "", "", "")
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	resp, body := f.do(t, "GET", "/v1/merchant", f.merchant.SecretKey, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/merchant = %d %s", resp.StatusCode, body)
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	if m["id"] != f.merchant.ID || m["name"] != "Test Shop" || m["object"] != "merchant" {
		t.Errorf("merchant = %s", body)
	}
	resp, body = f.do(t, "GET", "/v1/merchant", "", "", "")
	problem(t, resp, body, 401, "api_key_missing")
	resp, body = f.do(t, "GET", "/v1/merchant", "sk_aaaaaaaaaaaaaaaa_bbbb", "", "")
	problem(t, resp, body, 401, "invalid_api_key")
	resp, body = f.do(t, "GET", "/v1/merchant", f.merchant.PublishableKey, "", "")
	problem(t, resp, body, 403, "secret_key_required")

	p, err := f.svc.Authenticate(context.Background(), f.merchant.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeKey(context.Background(), p.KeyID); err != nil {
		t.Fatal(err)
	}
	resp, body = f.do(t, "GET", "/v1/merchant", f.merchant.SecretKey, "", "")
	problem(t, resp, body, 401, "invalid_api_key")

	if strings.Contains(f.logs.String(), f.merchant.SecretKey) || strings.Contains(f.logs.String(), f.merchant.PublishableKey) {
		t.Error("a key appears in the logs")
	}
	if !strings.Contains(f.logs.String(), `"key_id":"`+p.KeyID+`"`) {
		t.Errorf("the access log does not name the key id %s", p.KeyID)
	}
}

func TestRoutingProblems(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	resp, body := f.do(t, "GET", "/v1/nope", f.merchant.SecretKey, "", "")
	problem(t, resp, body, 404, "route_not_found")
	resp, body = f.do(t, "DELETE", "/v1/merchant", f.merchant.SecretKey, "", "")
	problem(t, resp, body, 405, "method_not_allowed")
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
}

type echoBody struct {
	Name   string `json:"name"`
	Amount int64  `json:"amount"`
}

func TestBodyProblems(t *testing.T) {
	var calls int
	f := newFixture(t, httpapi.Config{BodyBytesMax: 64}, func(s *httpapi.Server) {
		s.Handle("POST", "/v1/echo", httpapi.AuthSecret, func(w http.ResponseWriter, r *http.Request) error {
			var b echoBody
			if err := httpapi.DecodeJSON(r, &b); err != nil {
				return err
			}
			calls++
			return httpapi.WriteJSON(w, 200, b)
		})
	})
	key := f.merchant.SecretKey
	tests := []struct {
		name, contentType, body string
		status                  int
		code, param             string
	}{
		{"malformed", "application/json", `{"name":`, 400, "malformed_json", ""},
		{"syntax", "application/json", `{"name" "x"}`, 400, "malformed_json", ""},
		{"unknown field", "application/json", `{"nmae":"x"}`, 400, "unknown_field", "nmae"},
		{"wrong type", "application/json", `{"amount":"12"}`, 400, "invalid_type", "amount"},
		{"fraction", "application/json", `{"amount":1.5}`, 400, "invalid_type", "amount"},
		{"two values", "application/json", `{} {}`, 400, "malformed_json", ""},
		{"empty", "application/json", ``, 400, "malformed_json", ""},
		{"content type", "text/plain", `{}`, 400, "unsupported_media_type", ""},
		{"no content type", "", `{}`, 400, "unsupported_media_type", ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "body_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/v1/echo", key, tt.contentType, tt.body)
			p := problem(t, resp, body, tt.status, tt.code)
			if tt.param != "" && p["param"] != tt.param {
				t.Errorf("param %v, want %s", p["param"], tt.param)
			}
		})
	}
	if calls != 0 {
		t.Errorf("the handler ran %d times for bad bodies", calls)
	}
	resp, body := f.do(t, "POST", "/v1/echo", key, "application/json; charset=utf-8", `{"name":"ok","amount":5}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"amount":5`) {
		t.Errorf("good body = %d %s", resp.StatusCode, body)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, httpapi.Config{RateLimit: 0.001, RateBurst: 2}, nil)
	for i := range 2 {
		if resp, body := f.do(t, "GET", "/v1/merchant", f.merchant.SecretKey, "", ""); resp.StatusCode != 200 {
			t.Fatalf("request %d = %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := f.do(t, "GET", "/v1/merchant", f.merchant.SecretKey, "", "")
	problem(t, resp, body, 429, "rate_limited")
	if ra := resp.Header.Get("Retry-After"); !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(ra) {
		t.Errorf("Retry-After = %q", ra)
	}
	// Another key has its own bucket.
	other, err := f.svc.Create(context.Background(), "Other")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := f.do(t, "GET", "/v1/merchant", other.SecretKey, "", ""); resp.StatusCode != 200 {
		t.Errorf("other key = %d %s", resp.StatusCode, body)
	}
}

func TestPanicRecovery(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.Handle("GET", "/v1/boom", httpapi.AuthNone, func(w http.ResponseWriter, r *http.Request) error {
			panic("kaboom")
		})
	})
	resp, body := f.do(t, "GET", "/v1/boom", "", "", "")
	p := problem(t, resp, body, 500, "internal_error")
	if strings.Contains(string(body), "kaboom") {
		t.Error("panic value leaked to the client")
	}
	if !strings.Contains(f.logs.String(), "kaboom") || !strings.Contains(f.logs.String(), p["request_id"].(string)) {
		t.Error("panic not logged with the request id")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, httpapi.Config{Registry: reg}, nil)
	f.do(t, "GET", "/v1/merchant", f.merchant.SecretKey, "", "")
	f.do(t, "GET", "/v1/merchant", "", "", "")
	rec := httptest.NewRecorder()
	httpapi.MetricsHandler(reg, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.Bytes()
	for _, want := range []string{
		`kassa_http_requests_total{method="GET",route="/v1/merchant",status="200"} 1`,
		`kassa_http_requests_total{method="GET",route="/v1/merchant",status="401"} 1`,
		`kassa_http_request_duration_seconds_bucket{method="GET",route="/v1/merchant",le="+Inf"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestOpenAPIMatchesRoutes fails when a /v1 route is missing from the
// OpenAPI document or the document lists one that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newRiskFixture(t)
	resp, body := f.do(t, "GET", "/v1/openapi.json", "", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/openapi.json = %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range f.srv.Routes() {
		if strings.HasPrefix(r.Pattern, "/v1/") {
			served[r.Method+" "+r.Pattern] = true
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json lists routes that do not exist: %v", extra)
	}
}
