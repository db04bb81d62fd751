package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa/kassa/payment"
)

// TestSuspendedMerchantPage: the payer of a suspended merchant's payment
// is told in their words that the shop cannot take payments and that
// nothing was charged; the form is neither shown nor taken, the vouchers
// keep their value; lifted, the same link works.
func TestSuspendedMerchantPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.createPayment(t, map[string]any{"amount": 1500, "currency": "EUR"})
	id, secret := p["id"].(string), p["client_secret"].(string)
	link := f.ts.URL + "/pay/" + id + "?client_secret=" + url.QueryEscape(secret)
	if _, err := f.merchants.Suspend(ctx, f.merchant.ID, "fraud investigation"); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, f, link)
	if resp.StatusCode != 403 || !strings.Contains(body, "cannot take payments") || strings.Contains(body, `name="pin"`) ||
		strings.Contains(body, "fraud investigation") {
		t.Fatalf("page of a suspended merchant: %d\n%s", resp.StatusCode, body)
	}
	vs := f.issue(t, 1, 1500, "EUR")
	resp, body = post(t, f, "/pay/"+id, payForm(secret, vs[0].PIN), nil)
	if resp.StatusCode != 403 || !strings.Contains(body, "Nothing was charged") {
		t.Fatalf("confirm of a suspended merchant: %d\n%s", resp.StatusCode, body)
	}
	got, _ := f.payments.Get(ctx, "", id)
	if got.Status != payment.StatusRequiresAction {
		t.Errorf("the payment went on to %s", got.Status)
	}
	if _, err := f.merchants.Unsuspend(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	if resp, body = post(t, f, "/pay/"+id, payForm(secret, vs[0].PIN), nil); resp.StatusCode >= 400 {
		t.Fatalf("confirm after the suspension: %d\n%s", resp.StatusCode, body)
	}
}
