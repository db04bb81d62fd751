package httpapi_test

import (
	"fmt"
	"testing"
	"time"
)

// The card's issuing country reaches risk from the card's BIN (the test
// BIN table) on a payment, and from the merchant on a standalone
// evaluation, with the time the customer's credentials changed and
// their account was created.
func TestCardCountryAndCredentialChangeReachRisk(t *testing.T) {
	f := newRiskFixture(t)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	features := func(id string) map[string]any {
		t.Helper()
		resp, b := f.do(t, "GET", "/v1/risk/evaluations/"+id, sk, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("evaluation %s: %d %s", id, resp.StatusCode, b)
		}
		feats, _ := decode(t, b)["features"].(map[string]any)
		return feats
	}

	// A payment with a German test card, billed to Austria.
	_, b := f.do(t, "POST", "/v1/payments", sk, "application/json", `{"amount":2500,"currency":"EUR","customer":{"billing_country":"AT"}}`)
	p := decode(t, b)
	resp, b := f.do(t, "POST", "/v1/tokens", pk, "application/json", cardBody("4002760000000009", 12, 2030, "123"))
	if resp.StatusCode != 201 {
		t.Fatalf("tokenize: %d %s", resp.StatusCode, b)
	}
	tok := decode(t, b)["id"].(string)
	resp, b = f.do(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, "application/json",
		fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"card","token":%q}}`, p["client_secret"], tok))
	if resp.StatusCode != 200 {
		t.Fatalf("confirm: %d %s", resp.StatusCode, b)
	}
	_, b = f.do(t, "GET", "/v1/payments/"+p["id"].(string), sk, "", "")
	ev, _ := decode(t, b)["risk"].(map[string]any)["evaluation"].(string)
	if got := features(ev)["card_country_billing_mismatch"]; got != 1.0 {
		t.Errorf("a DE card billed to AT: card_country_billing_mismatch = %v, want 1", got)
	}

	// A standalone evaluation: the merchant says where the card is from
	// and that the customer's password changed ten minutes ago.
	changed := time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
	created := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	resp, b = f.do(t, "POST", "/v1/risk/evaluate", sk, "application/json", fmt.Sprintf(
		`{"amount":2500,"currency":"EUR","method":"card","card_fingerprint":"fp_x","card_country":"de","billing_country":"DE","credentials_changed_at":%q,"customer_created_at":%q}`, changed, created))
	if resp.StatusCode != 200 {
		t.Fatalf("evaluate: %d %s", resp.StatusCode, b)
	}
	feats := features(decode(t, b)["id"].(string))
	if age, _ := feats["account_age_days"].(float64); age < 1.99 || age > 2.01 {
		t.Errorf("standalone: account_age_days %v, want 2", feats["account_age_days"])
	}
	if d, _ := feats["credentials_changed_days"].(float64); feats["card_country_billing_mismatch"] != 0.0 || d <= 0 || d > 0.05 {
		t.Errorf("standalone: card_country_billing_mismatch %v, credentials_changed_days %v; want 0 and about 0.007",
			feats["card_country_billing_mismatch"], feats["credentials_changed_days"])
	}
	resp, b = f.do(t, "POST", "/v1/risk/evaluate", sk, "application/json", `{"amount":2500,"currency":"EUR","method":"card","card_country":"DEU"}`)
	if resp.StatusCode != 400 || decode(t, b)["code"] != "risk_event_invalid" {
		t.Errorf("card_country DEU: %d %s, want 400 risk_event_invalid", resp.StatusCode, b)
	}
}
