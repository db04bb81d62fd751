package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
)

func TestCustomerLimits(t *testing.T) {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	svc := compliance.New(compliance.Config{Store: sqlstore.NewCompliance(db), Clock: clk.Now,
		Merchants: merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})})
	f := newFixtureDB(t, db, httpapi.Config{Compliance: svc}, nil)
	sk := f.merchant.SecretKey
	put := func(path, body string) (int, compliance.LimitsJSON, []byte) {
		t.Helper()
		resp, b := f.do(t, "PUT", path, sk, "application/json", body)
		var l compliance.LimitsJSON
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, l, b
	}
	code, l, b := put("/v1/customers/player-7/limits", `{"deposit":{"day":{"amount":5000,"currency":"EUR"},"month":{"amount":50000,"currency":"EUR"}}}`)
	if code != 200 || l.Deposit[compliance.Day].Amount != 5000 || l.Customer != "player-7" || len(l.Pending) != 0 {
		t.Fatalf("first PUT = %d %s", code, b)
	}
	// A raise waits 7 days; a lowering is at once.
	code, l, b = put("/v1/customers/player-7/limits", `{"deposit":{"day":{"amount":9000,"currency":"EUR"},"month":{"amount":40000,"currency":"EUR"}}}`)
	if code != 200 || l.Deposit[compliance.Day].Amount != 5000 || l.Deposit[compliance.Month].Amount != 40000 {
		t.Fatalf("raise and lower = %d %s", code, b)
	}
	if p := l.Pending[compliance.Day]; p.Amount == nil || *p.Amount != 9000 || !p.EffectiveAt.Equal(clk.Now().Add(7*24*time.Hour)) {
		t.Fatalf("pending = %s", b)
	}
	if !strings.Contains(string(b), `"effective_at":"2026-03-17T12:00:00Z"`) {
		t.Errorf("effective_at not in the answer: %s", b)
	}
	// Self-exclusion: started, then cannot be shortened.
	code, l, b = put("/v1/customers/player-7/limits", `{"self_exclusion":{"period":"1y"}}`)
	if code != 200 || l.SelfExclusion == nil || l.SelfExclusion.Until == nil || !l.SelfExclusion.Until.Equal(clk.Now().AddDate(1, 0, 0)) {
		t.Fatalf("self-exclusion = %d %s", code, b)
	}
	resp, body := f.do(t, "PUT", "/v1/customers/player-7/limits", sk, "application/json", `{"self_exclusion":{"period":"6m"}}`)
	problem(t, resp, body, 400, "self_exclusion_cannot_be_shortened")
	resp, body = f.do(t, "PUT", "/v1/customers/player-7/limits", sk, "application/json", `{"cool_off":{"duration":"2h"}}`)
	problem(t, resp, body, 400, "cool_off_invalid")
	// GET answers the same, with what was deposited.
	resp, body = f.do(t, "GET", "/v1/customers/player-7/limits", sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"used":{"day":0,"month":0}`) {
		t.Errorf("GET = %d %s", resp.StatusCode, body)
	}
	// Bad bodies change nothing.
	for _, bad := range []struct{ body, code string }{
		{`{"deposit":{"year":{"amount":1,"currency":"EUR"}}}`, "limit_period_invalid"},
		{`{"deposit":{"day":{"amount":-1,"currency":"EUR"}}}`, "limit_invalid"},
		{`{"deposit":{"day":{"amount":1,"currency":"EURO"}}}`, "currency_invalid"},
		{`{"deposit":{"day":{"currency":"EUR"}}}`, "limit_invalid"},
		{`{"deposit":{"day":{"amount":1,"currency":"EUR","extra":1}}}`, "limit_invalid"},
		{`{"self_exclusion":{"period":"2w"}}`, "self_exclusion_period_invalid"},
		{`{"self_exclusion":{}}`, "self_exclusion_period_invalid"},
	} {
		resp, body := f.do(t, "PUT", "/v1/customers/player-7/limits", sk, "application/json", bad.body)
		problem(t, resp, body, 400, bad.code)
	}
	resp, body = f.do(t, "PUT", "/v1/customers/"+strings.Repeat("x", 256)+"/limits", sk, "application/json", `{}`)
	problem(t, resp, body, 400, "customer_invalid")

	// A hostile merchant sees and changes only its own customers: its
	// player-7 is another person.
	other, err := f.svc.Create(context.Background(), "Other Casino")
	if err != nil {
		t.Fatal(err)
	}
	resp, body = f.do(t, "GET", "/v1/customers/player-7/limits", other.SecretKey, "", "")
	if resp.StatusCode != 200 || strings.Contains(string(body), "5000") || strings.Contains(string(body), "self_exclusion\":{") {
		t.Errorf("another merchant's GET = %d %s", resp.StatusCode, body)
	}
	// A publishable key or none cannot read or set limits.
	for _, key := range []string{f.merchant.PublishableKey, ""} {
		resp, _ := f.do(t, "PUT", "/v1/customers/player-7/limits", key, "application/json", `{"self_exclusion":{"period":"indefinite"}}`)
		if resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Errorf("PUT with key %q: %d", key, resp.StatusCode)
		}
	}
	// Each change is in the merchant's audit log with before and after;
	// the refused ones are not, and the other merchant sees none.
	resp, body = f.do(t, "GET", "/v1/audit_events?action=customer.limits_update&limit=100", sk, "", "")
	if n := strings.Count(string(body), `"action":"customer.limits_update"`); resp.StatusCode != 200 || n != 3 ||
		!strings.Contains(string(body), `"target":"player-7"`) || !strings.Contains(string(body), `"type":"api_key"`) {
		t.Errorf("audit of limit changes = %d, %d entries: %s", resp.StatusCode, n, body)
	}
	resp, body = f.do(t, "GET", "/v1/audit_events?action=customer.", other.SecretKey, "", "")
	if resp.StatusCode != 200 || strings.Contains(string(body), "player-7") {
		t.Errorf("the other merchant's audit = %d %s", resp.StatusCode, body)
	}
	// Seven days on, the raise is in force.
	clk.Advance(7 * 24 * time.Hour)
	resp, body = f.do(t, "GET", "/v1/customers/player-7/limits", sk, "", "")
	if !strings.Contains(string(body), `"day":{"amount":9000`) || strings.Contains(string(body), `"pending":{"day"`) {
		t.Errorf("after 7 days: %s", body)
	}
}
