package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/voucher"
)

func TestPaymentsAPI(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	ctx := context.Background()
	if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 2, Amount: 1000, Currency: "EUR", IssuedBy: f.merchant.ID})
	if err != nil {
		t.Fatal(err)
	}
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	post := func(key, path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	st, p := post(sk, "/v1/payments", `{"amount":1500,"currency":"EUR","capture_method":"manual","merchant_reference":"o-1","return_url":"https://shop.example/back"}`)
	if st != 201 || p["status"] != "requires_action" || p["client_secret"] == nil {
		t.Fatalf("create = %d %v", st, p)
	}
	id, secret := p["id"].(string), p["client_secret"].(string)
	na := p["next_action"].(map[string]any)
	if !strings.Contains(na["redirect_url"].(string), "/pay/"+id+"?client_secret=") {
		t.Errorf("next_action %v", na)
	}
	// Bad input: each its own problem, nothing changes.
	for _, tt := range []struct{ key, path, body, code string }{
		{sk, "/v1/payments", `{"amount":99999999999999999999,"currency":"EUR"}`, "invalid_type"},
		{sk, "/v1/payments", `{"amount":10,"currency":"EUR","capture_method":"soon"}`, "capture_method_invalid"},
		{sk, "/v1/payments", `{"amount":10,"currency":"EUR","merchant_reference":"o-1"}`, "payment_duplicate"},
		{pk, "/v1/payments", `{"amount":10,"currency":"EUR"}`, "secret_key_required"},
		{pk, "/v1/payments/" + id + "/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%s]}}`, secret, strings.TrimSuffix(strings.Repeat(`"1",`, 11), ",")), "too_many_pins"},
		{pk, "/v1/payments/" + id + "/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"card","pins":["1"]}}`, secret), "payment_method_unsupported"},
		{pk, "/v1/payments/" + id + "/confirm", `{"client_secret":"x","payment_method":{"type":"voucher","pins":["1"]}}`, "client_secret_invalid"},
		// The wallet is spent only by a payer logged in on the hosted page:
		// no key, publishable or secret, pays from one.
		{pk, "/v1/payments/" + id + "/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"kassa_balance"}}`, secret), "kassa_account_required"},
		{sk, "/v1/payments/" + id + "/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"kassa_balance"}}`, secret), "kassa_account_required"},
		{sk, "/v1/payments/" + id + "/capture", `{}`, "payment_unexpected_state"},
	} {
		if st, prob := post(tt.key, tt.path, tt.body); prob["code"] != tt.code {
			t.Errorf("POST %s %s = %d %v, want %s", tt.path, tt.body, st, prob, tt.code)
		}
	}
	body := fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q,%q]}}`, secret, vs[0].PIN, vs[1].PIN)
	if st, p = post(pk, "/v1/payments/"+id+"/confirm", body); st != 200 || p["status"] != "authorized" {
		t.Fatalf("confirm = %d %v", st, p)
	}
	if strings.Contains(fmt.Sprint(p), vs[0].PIN) || p["client_secret"] != nil {
		t.Error("the confirm answer carries a PIN or the client secret")
	}
	if st, prob := post(sk, "/v1/payments/"+id+"/capture", `{"amount":1501}`); st != 400 || prob["code"] != "amount_too_large" {
		t.Errorf("capture above authorized = %d %v", st, prob)
	}
	if st, p = post(sk, "/v1/payments/"+id+"/capture", `{"amount":1200}`); st != 200 || p["amount_captured"] != 1200.0 {
		t.Fatalf("capture = %d %v", st, p)
	}
	st, r := post(sk, "/v1/refunds", fmt.Sprintf(`{"payment":%q,"amount":200,"reason":"requested_by_customer"}`, id))
	if st != 201 || r["object"] != "refund" {
		t.Fatalf("refund = %d %v", st, r)
	}
	resp, b := f.do(t, "GET", "/v1/refunds/"+r["id"].(string), sk, "", "")
	if resp.StatusCode != 200 {
		t.Errorf("get refund = %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/v1/balance", sk, "", "")
	var bal struct {
		Available []struct{ Amount int64 } `json:"available"`
	}
	json.Unmarshal(b, &bal)
	if resp.StatusCode != 200 || len(bal.Available) != 1 || bal.Available[0].Amount != 1000 {
		t.Errorf("balance = %d %s, want 1000 available", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/v1/payments?limit=1&status=captured", sk, "", "")
	if list := decode(t, b); resp.StatusCode != 200 || len(list["data"].([]any)) != 1 {
		t.Errorf("list = %d %s", resp.StatusCode, b)
	}
	// Another merchant sees none of it.
	other, _ := f.svc.Create(ctx, "Other")
	if resp, _ := f.do(t, "GET", "/v1/payments/"+id, other.SecretKey, "", ""); resp.StatusCode != 404 {
		t.Errorf("other merchant reads the payment: %d", resp.StatusCode)
	}
}

// TestPaymentCreateIdempotentUnderConcurrency sends one create with one
// Idempotency-Key from many clients at once: exactly one payment exists.
func TestPaymentCreateIdempotentUnderConcurrency(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	body := `{"amount":500,"currency":"EUR"}`
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]int{}
	statuses := map[int]int{}
	for range 12 {
		wg.Go(func() {
			resp, b := f.doKey(t, "/v1/payments", f.merchant.SecretKey, "create-once", body)
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 201 {
				ids[decode(t, b)["id"].(string)]++
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 || statuses[201]+statuses[409] != 12 {
		t.Errorf("ids %v, statuses %v: want one payment, the rest replays (201) or in-flight (409)", ids, statuses)
	}
	resp, b := f.do(t, "GET", "/v1/payments?limit=100", f.merchant.SecretKey, "", "")
	if n := len(decode(t, b)["data"].([]any)); resp.StatusCode != 200 || n != 1 {
		t.Errorf("%d payments exist, want 1", n)
	}
}
