package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/httpapi"
)

// TestAuditEventsAPI: a merchant reads its own audit log, a page at a
// time; another merchant's entries are neither listed nor a cursor; a
// publishable key or none reads nothing.
func TestAuditEventsAPI(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	ctx := context.Background()
	other, err := f.svc.Create(ctx, "Other Shop")
	if err != nil {
		t.Fatal(err)
	}
	actx := audit.WithActor(ctx, audit.Actor{Kind: audit.ActorMember, ID: "mem_1", Name: "ana@example.com", Role: "admin", IP: "198.51.100.7"})
	for _, target := range []string{"pay_1", "pay_2", "pay_3"} {
		if err := f.cfg.Audit.Record(actx, f.merchant.ID, "payment.refund", target, nil, map[string]int{"amount_refunded": 500}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.cfg.Audit.Record(actx, other.ID, "member.invite", "mem_9", nil, map[string]string{"role": "developer"}); err != nil {
		t.Fatal(err)
	}
	otherEvs, _, err := f.cfg.Audit.List(ctx, audit.Filter{Org: other.ID, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}

	type page struct {
		Data []struct {
			ID     string          `json:"id"`
			Object string          `json:"object"`
			Action string          `json:"action"`
			Target string          `json:"target"`
			Before json.RawMessage `json:"before"`
			After  json.RawMessage `json:"after"`
			Actor  map[string]string
		} `json:"data"`
		HasMore bool `json:"has_more"`
	}
	var targets []string
	after := ""
	for range 5 {
		resp, body := f.do(t, "GET", "/v1/audit_events?limit=2&starting_after="+after, f.merchant.SecretKey, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("list = %d %s", resp.StatusCode, body)
		}
		var pg page
		if err := json.Unmarshal(body, &pg); err != nil {
			t.Fatal(err)
		}
		for _, e := range pg.Data {
			targets = append(targets, e.Target)
			if e.Object != "audit_event" || string(e.Before) != "null" || string(e.After) != `{"amount_refunded":500}` ||
				e.Actor["name"] != "ana@example.com" || e.Actor["ip"] != "198.51.100.7" || e.Actor["type"] != "member" {
				t.Errorf("entry %+v", e)
			}
		}
		if !pg.HasMore {
			break
		}
		after = pg.Data[len(pg.Data)-1].ID
	}
	if got := strings.Join(targets, ","); got != "pay_3,pay_2,pay_1" {
		t.Errorf("targets %s, want pay_3,pay_2,pay_1", got)
	}
	for _, tt := range []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"other merchant's cursor", "/v1/audit_events?starting_after=" + otherEvs[0].ID, f.merchant.SecretKey, 400, "cursor_invalid"},
		{"bad limit", "/v1/audit_events?limit=1000", f.merchant.SecretKey, 400, "limit_invalid"},
		{"publishable key", "/v1/audit_events", f.merchant.PublishableKey, 403, "secret_key_required"},
		{"no key", "/v1/audit_events", "", 401, "api_key_missing"},
	} {
		resp, body := f.do(t, "GET", tt.path, tt.key, "", "")
		if resp.StatusCode != tt.status || !strings.Contains(string(body), `"code":"`+tt.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, body, tt.status, tt.code)
		}
	}
	resp, body := f.do(t, "GET", "/v1/audit_events?action=member.", other.SecretKey, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "mem_9") || strings.Contains(string(body), "pay_1") {
		t.Errorf("other merchant's list: %d %s", resp.StatusCode, body)
	}
}
