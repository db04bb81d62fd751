package httpapi_test

import (
	"context"
	"fmt"
	"github.com/kassa/kassa/internal/syncbuf"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/webhook"
)

func init() {
	webhook.RegisterEventType("apitest.created")
	webhook.RegisterEventType("apitest.updated")
}

// newWebhookService is the webhook service the shared fixture serves.
func newWebhookService(db *sqlstore.DB) *webhook.Service {
	return webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(db), Sealer: vaulttest.Envelope(webhook.SealDomain)})
}

// webhookFixture is a server with webhooks over one SQLite store, with a
// second merchant.
type webhookFixture struct {
	*fixture
	hooks *webhook.Service
	other merchant.Created
}

func newWebhookFixture(t *testing.T) *webhookFixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{svc: merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{}), logs: &syncbuf.Buffer{}}
	if f.merchant, err = f.svc.Create(context.Background(), "Hook Shop"); err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.Create(context.Background(), "Other Shop")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hooks := webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(db), Sealer: vaulttest.Envelope(webhook.SealDomain),
		Logger: logger})
	f.srv = httpapi.New(httpapi.Config{Merchants: f.svc, DB: db, Logger: logger, Webhooks: hooks, RateLimit: -1})
	f.ts = httptest.NewTLSServer(f.srv)
	t.Cleanup(f.ts.Close)
	return &webhookFixture{fixture: f, hooks: hooks, other: other}
}

func (f *webhookFixture) call(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	resp, b := f.do(t, method, path, key, ct, body)
	return resp.StatusCode, b
}

func TestWebhookEndpointsAPI(t *testing.T) {
	f := newWebhookFixture(t)
	key, otherKey := f.merchant.SecretKey, f.other.SecretKey

	st, body := f.call(t, "POST", "/v1/webhook_endpoints", key,
		`{"url":"https://hooks.example.com/kassa","events":["apitest.created","*"],"description":"prod"}`)
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	ep := decode(t, body)
	secret, _ := ep["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || !strings.HasPrefix(ep["id"].(string), "we_") || ep["status"] != "enabled" ||
		ep["object"] != "webhook_endpoint" || ep["description"] != "prod" || ep["url"] != "https://hooks.example.com/kassa" {
		t.Fatalf("created endpoint %s", body)
	}
	epID := ep["id"].(string)
	secrets := []string{secret}

	// The secret is shown once: never by get or list.
	st, body = f.call(t, "GET", "/v1/webhook_endpoints/"+epID, key, "")
	if got := decode(t, body); st != 200 || got["id"] != epID || got["secret"] != nil {
		t.Errorf("get = %d %s", st, body)
	}
	st, body = f.call(t, "GET", "/v1/webhook_endpoints", key, "")
	if list := decode(t, body); st != 200 || list["object"] != "list" || len(list["data"].([]any)) != 1 || list["has_more"] != false {
		t.Errorf("list = %d %s", st, body)
	}
	if strings.Contains(string(body), "whsec_") {
		t.Errorf("list shows a secret: %s", body)
	}

	// Rotation shows the new secret, once.
	st, body = f.call(t, "POST", "/v1/webhook_endpoints/"+epID+"/rotate_secret", key, "")
	rot := decode(t, body)
	if st != 200 || rot["secret"] == nil || rot["secret"] == secret || rot["id"] != epID {
		t.Errorf("rotate = %d %s", st, body)
	}
	secrets = append(secrets, fmt.Sprint(rot["secret"]))

	// Bad input: a problem naming the field, and nothing stored.
	for _, tt := range []struct {
		body, code, param string
		status            int
	}{
		{`{"events":["*"]}`, "url_required", "url", 400},
		{`{"url":"http://hooks.example.com","events":["*"]}`, "url_not_https", "url", 400},
		{`{"url":"ftp://hooks.example.com","events":["*"]}`, "url_not_https", "url", 400},
		{`{"url":"https://","events":["*"]}`, "url_invalid", "url", 400},
		{`{"url":"/relative","events":["*"]}`, "url_invalid", "url", 400},
		{`{"url":"https://user:pw@hooks.example.com","events":["*"]}`, "url_invalid", "url", 400},
		{`{"url":"https://hooks.example.com/` + strings.Repeat("a", webhook.URLLengthMax) + `","events":["*"]}`, "url_invalid", "url", 400},
		{`{"url":"https://127.0.0.1/x","events":["*"]}`, "url_not_public", "url", 422},
		{`{"url":"https://10.1.2.3/x","events":["*"]}`, "url_not_public", "url", 422},
		{`{"url":"https://[::1]:8443/x","events":["*"]}`, "url_not_public", "url", 422},
		{`{"url":"https://[::ffff:192.168.1.1]/x","events":["*"]}`, "url_not_public", "url", 422},
		{`{"url":"https://169.254.169.254/latest","events":["*"]}`, "url_not_public", "url", 422},
		{`{"url":"https://100.64.0.1/x","events":["*"]}`, "url_not_public", "url", 422},
		{`{"url":"https://hooks.example.com","events":[]}`, "events_required", "events", 400},
		{`{"url":"https://hooks.example.com","events":["payment.teleported"]}`, "event_type_unknown", "events", 400},
		{`{"url":"https://hooks.example.com","events":["*"],"description":"` + strings.Repeat("d", webhook.DescriptionLengthMax+1) + `"}`, "description_invalid", "description", 400},
		{`{"url":"https://hooks.example.com","events":["*"],"secret":"whsec_mine"}`, "unknown_field", "secret", 400},
		{`{"url":42}`, "invalid_type", "url", 400},
	} {
		resp, b := f.do(t, "POST", "/v1/webhook_endpoints", key, "application/json", tt.body)
		p := problem(t, resp, b, tt.status, tt.code)
		if p["param"] != tt.param {
			t.Errorf("%.60s: param %v, want %s", tt.body, p["param"], tt.param)
		}
	}

	// Another merchant can neither see nor touch it.
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/webhook_endpoints/" + epID},
		{"DELETE", "/v1/webhook_endpoints/" + epID},
		{"POST", "/v1/webhook_endpoints/" + epID + "/rotate_secret"},
		{"GET", "/v1/webhook_endpoints/" + epID + "/deliveries"},
	} {
		resp, b := f.do(t, c.method, c.path, otherKey, "", "")
		problem(t, resp, b, 404, "webhook_endpoint_not_found")
	}
	if st, body := f.call(t, "GET", "/v1/webhook_endpoints", otherKey, ""); st != 200 || len(decode(t, body)["data"].([]any)) != 0 {
		t.Errorf("other merchant's list = %d %s", st, body)
	}
	// Publishable keys and no key are refused.
	resp, b := f.do(t, "GET", "/v1/webhook_endpoints", f.merchant.PublishableKey, "", "")
	problem(t, resp, b, 403, "secret_key_required")

	// At most 16 endpoints; paging through them.
	for i := 1; i < webhook.EndpointsPerMerchantMax; i++ {
		st, body := f.call(t, "POST", "/v1/webhook_endpoints", key, fmt.Sprintf(`{"url":"https://h%d.example.com","events":["apitest.updated"]}`, i))
		if st != 201 {
			t.Fatalf("endpoint %d = %d %s", i, st, body)
		}
		secrets = append(secrets, fmt.Sprint(decode(t, body)["secret"]))
	}
	resp, b = f.do(t, "POST", "/v1/webhook_endpoints", key, "application/json", `{"url":"https://h17.example.com","events":["*"]}`)
	problem(t, resp, b, 422, "endpoint_limit_reached")
	seen, after := 0, ""
	for range 10 {
		st, body := f.call(t, "GET", "/v1/webhook_endpoints?limit=5&starting_after="+after, key, "")
		page := decode(t, body)
		if st != 200 {
			t.Fatalf("page = %d %s", st, body)
		}
		data := page["data"].([]any)
		seen += len(data)
		if page["has_more"] != true {
			break
		}
		after = data[len(data)-1].(map[string]any)["id"].(string)
	}
	if seen != webhook.EndpointsPerMerchantMax {
		t.Errorf("paged through %d endpoints, want %d", seen, webhook.EndpointsPerMerchantMax)
	}
	resp, b = f.do(t, "GET", "/v1/webhook_endpoints?limit=0", key, "", "")
	problem(t, resp, b, 400, "limit_invalid")
	resp, b = f.do(t, "GET", "/v1/webhook_endpoints?starting_after=we_nope", key, "", "")
	problem(t, resp, b, 400, "cursor_invalid")

	// Delete, then it is gone.
	if st, body := f.call(t, "DELETE", "/v1/webhook_endpoints/"+epID, key, ""); st != 200 || decode(t, body)["deleted"] != true {
		t.Errorf("delete = %d %s", st, body)
	}
	resp, b = f.do(t, "GET", "/v1/webhook_endpoints/"+epID, key, "", "")
	problem(t, resp, b, 404, "webhook_endpoint_not_found")

	// No secret reached the log.
	logs := f.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) || strings.Contains(logs, strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("a webhook secret is in the log")
		}
	}
}

func TestEventsAPI(t *testing.T) {
	f := newWebhookFixture(t)
	ctx := context.Background()
	key, otherKey := f.merchant.SecretKey, f.other.SecretKey
	st, body := f.call(t, "POST", "/v1/webhook_endpoints", key, `{"url":"https://a.example.com","events":["*"]}`)
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	all := decode(t, body)["id"].(string)
	st, body = f.call(t, "POST", "/v1/webhook_endpoints", key, `{"url":"https://b.example.com","events":["apitest.updated"]}`)
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	updatedOnly := decode(t, body)["id"].(string)

	var ids []string
	for i := range 4 {
		typ := "apitest.created"
		if i%2 == 1 {
			typ = "apitest.updated"
		}
		ev, err := f.hooks.NewEvent(f.merchant.Merchant.ID, typ, map[string]int{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.hooks.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	st, body = f.call(t, "GET", "/v1/events?limit=3", key, "")
	page := decode(t, body)
	data, _ := page["data"].([]any)
	if st != 200 || len(data) != 3 || page["has_more"] != true {
		t.Fatalf("events page = %d %s", st, body)
	}
	first := data[0].(map[string]any)
	if first["object"] != "event" || first["type"] == nil || first["created"] == nil || first["data"] == nil {
		t.Errorf("event %v", first)
	}
	last := data[2].(map[string]any)["id"].(string)
	st, body = f.call(t, "GET", "/v1/events?limit=3&starting_after="+last, key, "")
	if page := decode(t, body); st != 200 || len(page["data"].([]any)) != 1 || page["has_more"] != false {
		t.Errorf("second events page = %d %s", st, body)
	}
	st, body = f.call(t, "GET", "/v1/events?type=apitest.updated", key, "")
	if page := decode(t, body); st != 200 || len(page["data"].([]any)) != 2 {
		t.Errorf("events of a type = %d %s", st, body)
	}
	st, body = f.call(t, "GET", "/v1/events/"+ids[0], key, "")
	if ev := decode(t, body); st != 200 || ev["id"] != ids[0] || ev["type"] != "apitest.created" {
		t.Errorf("get event = %d %s", st, body)
	}
	// Another merchant sees none of them.
	resp, b := f.do(t, "GET", "/v1/events/"+ids[0], otherKey, "", "")
	problem(t, resp, b, 404, "event_not_found")
	if st, body := f.call(t, "GET", "/v1/events", otherKey, ""); st != 200 || len(decode(t, body)["data"].([]any)) != 0 {
		t.Errorf("other merchant's events = %d %s", st, body)
	}
	resp, b = f.do(t, "POST", "/v1/events/"+ids[0]+"/redeliver", otherKey, "", "")
	problem(t, resp, b, 404, "event_not_found")

	// Deliveries of the endpoints.
	st, body = f.call(t, "GET", "/v1/webhook_endpoints/"+all+"/deliveries", key, "")
	deliveries := decode(t, body)["data"].([]any)
	if st != 200 || len(deliveries) != 4 {
		t.Fatalf("deliveries = %d %s", st, body)
	}
	d := deliveries[0].(map[string]any)
	if d["object"] != "webhook_delivery" || d["status"] != "pending" || d["endpoint"] != all || d["next_attempt"] == nil {
		t.Errorf("delivery %v", d)
	}

	// Redeliver to every subscribed endpoint, or to one.
	st, body = f.call(t, "POST", "/v1/events/"+ids[1]+"/redeliver", key, "")
	if re := decode(t, body); st != 202 || len(re["data"].([]any)) != 2 {
		t.Errorf("redeliver = %d %s", st, body)
	}
	st, body = f.call(t, "POST", "/v1/events/"+ids[1]+"/redeliver", key, `{"endpoint":"`+updatedOnly+`"}`)
	if re := decode(t, body); st != 202 || len(re["data"].([]any)) != 1 {
		t.Errorf("redeliver to one = %d %s", st, body)
	}
	resp, b = f.do(t, "POST", "/v1/events/"+ids[1]+"/redeliver", key, "application/json", `{"endpoint":"we_nope"}`)
	if p := problem(t, resp, b, 404, "webhook_endpoint_not_found"); p["param"] != "endpoint" {
		t.Errorf("param %v, want endpoint", p["param"])
	}
	resp, b = f.do(t, "POST", "/v1/events/"+ids[1]+"/redeliver", key, "application/json", `{"endpoint":1}`)
	problem(t, resp, b, 400, "invalid_type")
	resp, b = f.do(t, "GET", "/v1/events?type="+strings.Repeat("x", 65), key, "", "")
	problem(t, resp, b, 400, "type_invalid")
	resp, b = f.do(t, "GET", "/v1/events/evt_nope", key, "", "")
	problem(t, resp, b, 404, "event_not_found")
}
