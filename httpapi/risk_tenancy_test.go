package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/voucher"
)

// Every voucher of a multi-PIN payment is checked against lists, locks
// and velocity, not only the first: a clean first PIN does not carry a
// listed second one through, whether the second is charged or not.
func TestEveryVoucherOfAPaymentIsScored(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	for _, amount := range []int{1500, 500} { // both vouchers charged; the second not needed
		vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 2, Amount: 1000, Currency: "EUR", IssuedBy: f.merchant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if st, e := post(sk, "/v1/risk/lists", fmt.Sprintf(`{"list":"block","type":"voucher_serial","value":%q}`, vs[1].Serial)); st != 201 {
			t.Fatalf("block the second voucher = %d %v", st, e)
		}
		_, p := post(sk, "/v1/payments", fmt.Sprintf(`{"amount":%d,"currency":"EUR"}`, amount))
		st, c := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q,%q]}}`,
			p["client_secret"], vs[0].PIN, vs[1].PIN))
		if st != 200 || c["status"] != "failed" || c["failure_code"] != "risk_blocked" {
			t.Errorf("amount %d: a payment whose second voucher is on the block list = %d %v, want failed risk_blocked", amount, st, c)
		}
	}
}

// A merchant's fraud labels and locks act within that merchant: labelling
// a standalone evaluation of any voucher serial fraud, or failing it
// again and again, does not freeze the voucher for other merchants.
func TestMerchantCannotLockVoucherPlatformWide(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	attacker := f.merchant.SecretKey
	victim, err := f.svc.Create(ctx, "Victim")
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	for i, serial := range []string{"VCH-LABELLED", "VCH-FAILED"} {
		for range risk.DefaultPolicy.LockFailures {
			st, ev := post(attacker, "/v1/risk/evaluate", fmt.Sprintf(`{"amount":1000,"currency":"EUR","method":"voucher","voucher_serial":%q}`, serial))
			if st != 200 {
				t.Fatalf("evaluate = %d %v", st, ev)
			}
			if i == 0 {
				if st, l := post(attacker, "/v1/risk/labels", fmt.Sprintf(`{"subject":%q,"label":"fraud","source":"analyst"}`, ev["id"])); st != 201 {
					t.Fatalf("label = %d %v", st, l)
				}
				break
			}
			if st, o := post(attacker, "/v1/risk/evaluations/"+ev["id"].(string)+"/outcome", `{"outcome":"failed"}`); st != 200 {
				t.Fatalf("outcome = %d %v", st, o)
			}
		}
		body := fmt.Sprintf(`{"amount":1000,"currency":"EUR","method":"voucher","voucher_serial":%q}`, serial)
		if st, ev := post(victim.SecretKey, "/v1/risk/evaluate", body); st != 200 || ev["decision"] == "block" {
			t.Errorf("%s at another merchant = %d %v, want not blocked", serial, st, ev)
		}
		if st, ev := post(attacker, "/v1/risk/evaluate", body); st != 200 || ev["decision"] != "block" {
			t.Errorf("%s at the merchant that locked it = %d %v, want block", serial, st, ev)
		}
	}
	platform, err := f.cfg.Risk.PlatformLocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(platform) != 0 {
		t.Errorf("a merchant's API calls made platform-wide locks: %v", platform)
	}
}

// The risk API neither leaks nor pollutes other merchants' data: a
// merchant's evaluation shows no feature values computed from other
// merchants' attempts, and standalone evaluations count within their
// merchant only.
func TestRiskFeaturesStayWithinMerchant(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	a := f.merchant
	b, err := f.svc.Create(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string) (int, map[string]any) {
		resp, bd := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, bd)
	}
	get := func(key, path string) map[string]any {
		_, bd := f.do(t, "GET", path, key, "", "")
		return decode(t, bd)
	}
	emailIdx, _ := risk.FeatureIndex("email_attempts_24h")
	ipIdx, _ := risk.FeatureIndex("ip_attempts_1h")
	// B's payers attempt payments (the payment path: platform-wide).
	now := time.Now().UTC()
	for i := range 7 {
		_, err := f.cfg.Risk.Evaluate(ctx, risk.Input{Subject: fmt.Sprintf("pay_b%d", i), Event: risk.Event{Kind: risk.KindPayment,
			MerchantID: b.ID, Amount: 1000, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_b",
			Email: "victim@example.com", IP: "81.2.69.8", Time: now}}, true)
		if err != nil {
			t.Fatal(err)
		}
	}
	// A probes the email with a standalone evaluation and reads it back.
	st, ev := post(a.SecretKey, "/v1/risk/evaluate", `{"amount":1000,"currency":"EUR","method":"card","card_fingerprint":"fp_a","email":"victim@example.com","ip":"81.2.69.8"}`)
	if st != 200 {
		t.Fatalf("evaluate = %d %v", st, ev)
	}
	got := get(a.SecretKey, "/v1/risk/evaluations/"+ev["id"].(string))
	feats, _ := got["features"].(map[string]any)
	if v := feats["email_attempts_24h"]; v != nil && v != 0.0 {
		t.Errorf("A's standalone evaluation shows email_attempts_24h = %v: B's payers' activity leaks", v)
	}
	if v := feats["ip_attempts_1h"]; v != nil && v != 0.0 {
		t.Errorf("A's standalone evaluation shows ip_attempts_1h = %v: B's payers' activity leaks", v)
	}
	// A's own payment-path evaluation: no platform-wide values shown.
	own, err := f.cfg.Risk.Evaluate(ctx, risk.Input{Subject: "pay_a1", Event: risk.Event{Kind: risk.KindPayment, MerchantID: a.ID,
		Amount: 1000, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_a", Email: "victim@example.com", IP: "81.2.69.8", Time: now}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if own.Features[emailIdx] < 7 {
		t.Fatalf("the engine itself saw email_attempts_24h = %v, want the platform's 7", own.Features[emailIdx])
	}
	got = get(a.SecretKey, "/v1/risk/evaluations/"+own.ID)
	feats, _ = got["features"].(map[string]any)
	for _, name := range []string{"email_attempts_24h", "ip_attempts_1h", "card_attempts_24h"} {
		if v, ok := feats[name]; ok {
			t.Errorf("A's payment evaluation shows %s = %v (other merchants' activity)", name, v)
		}
	}
	if feats["amount_log"] == nil {
		t.Errorf("A's payment evaluation lost its own features: %v", feats)
	}
	for _, r := range got["reasons"].([]any) {
		if rm := r.(map[string]any); rm["value"] != nil && rm["feature"] != nil && rm["feature"] != "amount_log" {
			if i, ok := risk.FeatureIndex(rm["feature"].(string)); ok && risk.FeatureShared(i) {
				t.Errorf("a reason shows a platform-wide value: %v", rm)
			}
		}
	}
	// A pollutes: 20 fake standalone evaluations of an email and an IP
	// must not raise what B's payments see.
	for range 20 {
		if st, e := post(a.SecretKey, "/v1/risk/evaluate", `{"amount":1000,"currency":"EUR","email":"target@example.com","ip":"81.2.69.9"}`); st != 200 {
			t.Fatalf("evaluate = %d %v", st, e)
		}
	}
	seen, err := f.cfg.Risk.Evaluate(ctx, risk.Input{Subject: "pay_b9", Event: risk.Event{Kind: risk.KindPayment, MerchantID: b.ID,
		Amount: 1000, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_b2", Email: "target@example.com", IP: "81.2.69.9", Time: now}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Features[emailIdx] != 0 || seen.Features[ipIdx] != 0 {
		t.Errorf("B's payment sees email_attempts_24h = %v, ip_attempts_1h = %v after A's fake evaluations, want 0",
			seen.Features[emailIdx], seen.Features[ipIdx])
	}
	// Within A, standalone evaluations still count.
	_, mine := post(a.SecretKey, "/v1/risk/evaluate", `{"amount":1000,"currency":"EUR","email":"target@example.com","ip":"81.2.69.9"}`)
	got = get(a.SecretKey, "/v1/risk/evaluations/"+mine["id"].(string))
	if v := got["features"].(map[string]any)["email_attempts_24h"]; v != 20.0 {
		t.Errorf("A's own standalone count email_attempts_24h = %v, want 20", v)
	}
}

// A merchant cannot report the outcome of its payment's evaluation: the
// payment records it, and failures reported by hand would count (and
// lock vouchers) platform-wide.
func TestOutcomeOfPaymentEvaluationRefused(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	ev, err := f.cfg.Risk.Evaluate(ctx, risk.Input{Subject: "pay_1", Event: risk.Event{Kind: risk.KindPayment, MerchantID: f.merchant.ID,
		Amount: 1000, Currency: "EUR", Method: risk.MethodVoucher, VoucherSerial: "V1"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := f.do(t, "POST", "/v1/risk/evaluations/"+ev.ID+"/outcome", f.merchant.SecretKey, "application/json", `{"outcome":"failed"}`)
	if p := decode(t, b); resp.StatusCode != 409 || p["code"] != "risk_outcome_by_payment" {
		t.Errorf("outcome of a payment's evaluation = %d %v, want 409 risk_outcome_by_payment", resp.StatusCode, p)
	}
}

// An allow-listed voucher does not carry another one through: a payment
// is allowed by the allow list for its vouchers only when every one of
// them is on it.
func TestAllowedVoucherDoesNotCarryAnother(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 4, Amount: 1000, Currency: "EUR", IssuedBy: f.merchant.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []voucher.Issued{vs[0], vs[2], vs[3]} {
		if st, e := post(sk, "/v1/risk/lists", fmt.Sprintf(`{"list":"allow","type":"voucher_serial","value":%q}`, v.Serial)); st != 201 {
			t.Fatalf("allow a voucher = %d %v", st, e)
		}
	}
	if st, e := post(sk, "/v1/risk/rules", `{"name":"everything","expression":"amount > 0","action":"block"}`); st != 201 {
		t.Fatalf("create rule = %d %v", st, e)
	}
	for _, tt := range []struct {
		pins   [2]voucher.Issued
		status string
	}{
		{[2]voucher.Issued{vs[0], vs[1]}, "failed"},   // allowed first, unknown second
		{[2]voucher.Issued{vs[2], vs[3]}, "captured"}, // both allowed
	} {
		_, p := post(sk, "/v1/payments", `{"amount":1500,"currency":"EUR"}`)
		st, c := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q,%q]}}`,
			p["client_secret"], tt.pins[0].PIN, tt.pins[1].PIN))
		if st != 200 || c["status"] != tt.status {
			t.Errorf("vouchers %s, %s = %d %v, want %s", tt.pins[0].Serial, tt.pins[1].Serial, st, c, tt.status)
		}
	}
}
