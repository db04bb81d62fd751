package compliance_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestEvents: a refused deposit reaches the merchant as
// compliance.deposit_refused (no personal data), a merchant's customer's
// limits as compliance.*; a Kassa account's own limits reach no merchant.
func TestEvents(t *testing.T) {
	e := newSQLiteEnv(t)
	de := e.merchant(merchant.CategoryGambling, "DE")
	if _, err := e.deposit(de, 5000, "", "player-1", "DE"); err == nil {
		t.Fatal("anonymous German deposit passed")
	}
	hooks := sqlstore.NewWebhooks(e.db)
	evs, _, err := hooks.Events(e.ctx, de, compliance.EventDepositRefused, "", 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("deposit_refused events = %d, %v", len(evs), err)
	}
	var data map[string]any
	json.Unmarshal(evs[0].Data, &data)
	if data["code"] != compliance.CodeMethodNotAllowed || data["jurisdiction"] != "DE" || data["payment"] == "" {
		t.Errorf("event data %s", evs[0].Data)
	}
	if strings.Contains(string(evs[0].Data), "player-1") {
		t.Errorf("the event names the customer: %s", evs[0].Data)
	}
	sub := compliance.Subject{MerchantID: de, CustomerID: "player-1"}
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Week: lim(100_00)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{SelfExclusion: compliance.Exclude6Months, CoolOff: 0}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{compliance.EventLimitsUpdated, compliance.EventSelfExcluded} {
		if evs, _, _ := hooks.Events(e.ctx, de, typ, "", 10); len(evs) != 1 {
			t.Errorf("%s events: %d", typ, len(evs))
		}
	}
	player := e.account(false, "", "", "")
	if _, err := e.svc.SetLimits(e.ctx, compliance.Subject{CustomerID: player}, compliance.SetRequest{SelfExclusion: compliance.Exclude5Years}); err != nil {
		t.Fatal(err)
	}
	if evs, _, _ := hooks.Events(e.ctx, de, compliance.EventSelfExcluded, "", 10); len(evs) != 1 {
		t.Errorf("a payer's own self-exclusion reached a merchant: %d events", len(evs))
	}
	// A merchant cannot name a Kassa account's own limits: only its customer.
	if _, err := e.svc.SetLimits(e.ctx, compliance.Subject{CustomerID: "player-1"}, compliance.SetRequest{}); err == nil {
		t.Error("account limits for an id that is no cus_ id")
	}
}
