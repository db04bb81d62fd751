package web_test

import (
	"strings"
	"testing"
)

// TestVoucherReceipt: right after paying with vouchers the answer says
// what is left on each (its serial's tail, the balance in the payer's
// language), never a PIN or a whole serial; the page's link shows the
// paid state without balances (the shop has that link too), and so does
// a second submit.
func TestVoucherReceipt(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		locale                      string
		head, left, empty, serialAt string
	}{
		{"en-IE", "Left on your vouchers", "€35.00", "Nothing left", "Voucher, serial number ••••\u00a0"},
		{"de-AT", "Restguthaben Ihrer Gutscheine", "35,00\u00a0€", "Aufgebraucht", "Gutschein, Seriennummer ••••\u00a0"},
	} {
		tens, thirty := f.issue(t, 2, 1000, "EUR"), f.issue(t, 1, 4000, "EUR")[0]
		spare := f.issue(t, 1, 1000, "EUR")[0] // not needed: not charged, not listed
		p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "locale": tt.locale,
			"return_url": "https://shop.example/done"})
		path, secret := "/pay/"+p["id"].(string), p["client_secret"].(string)
		resp, body := post(t, f, path, payForm(secret, tens[0].PIN, "", tens[1].PIN, thirty.PIN, spare.PIN),
			map[string]string{"Kassa-Page-Fetch": "1"})
		if resp.StatusCode != 200 || !strings.Contains(body, `id="vouchers-left"`) {
			t.Fatalf("%s: paying = %d, want the receipt\n%s", tt.locale, resp.StatusCode, body)
		}
		for _, want := range []string{tt.head, tt.left, tt.serialAt + thirty.Serial[8:], tt.serialAt + tens[0].Serial[8:],
			`data-pin="0"`, `data-pin="1"`, `data-pin="2"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the receipt lacks %q\n%s", tt.locale, want, body)
			}
		}
		if n := strings.Count(body, tt.empty); n != 2 {
			t.Errorf("%s: %d vouchers with nothing left, want 2", tt.locale, n)
		}
		for _, secretText := range []string{tens[0].PIN, tens[1].PIN, thirty.PIN, spare.PIN, thirty.Serial, tens[0].Serial,
			spare.Serial[8:], `data-pin="3"`} {
			if strings.Contains(body, secretText) {
				t.Errorf("%s: the receipt shows %q", tt.locale, secretText)
			}
		}
		// The link and a second submit: paid, no balances.
		_, page := get(t, f, redirectURLOf(f, p))
		resp, again := post(t, f, path, payForm(secret, thirty.PIN), nil)
		for _, b := range []string{page, again} {
			if strings.Contains(b, `id="vouchers-left"`) || strings.Contains(b, tt.left) {
				t.Errorf("%s: balances shown outside the answer to the PINs:\n%s", tt.locale, b)
			}
		}
		if resp.StatusCode != 303 {
			t.Errorf("%s: second submit = %d, want on to the shop", tt.locale, resp.StatusCode)
		}
		if left, err := f.vouchers.Refresh(t.Context(), thirty.Serial); err != nil || left.Balance != 3500 {
			t.Errorf("%s: the 40.00 voucher holds %d (%v), want 3500", tt.locale, left.Balance, err)
		}
		for _, pin := range []string{tens[0].PIN, thirty.PIN} {
			if strings.Contains(f.logs.String(), pin) {
				t.Errorf("%s: a PIN is in the log", tt.locale)
			}
		}
	}
}
