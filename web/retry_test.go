package web_test

import (
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/web"
)

// newRetryFixture is the pages over a payment service with kassa
// serve's attempt limit (payment.AttemptsMaxDefault), unscored.
func newRetryFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{logs: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	shop := shoptest.New(t, logger)
	f.merchant, f.issuer, f.vouchers = shop.Merchant, shop.Issuer, shop.Vouchers
	keys, err := vault.OpenKeyFile(filepath.Join(t.TempDir(), "vault-kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	fpKey := make([]byte, 32)
	rand.Read(fpKey)
	cards, err := vault.New(vault.Config{Store: sqlstore.NewVault(shop.DB), Keys: keys, FingerprintKey: fpKey, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cards.Close)
	acq := acquirer.NewTest()
	f.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(shop.DB), Ledger: shop.Ledger, Vouchers: f.vouchers,
		Logger: logger, Vault: cards, Acquirer: acquirer.WithTimeout(acq, 10*time.Second), AttemptsMax: payment.AttemptsMaxDefault})
	api := httpapi.New(httpapi.Config{Logger: logger, Merchants: shop.Merchants, DB: shop.DB, Ledger: shop.Ledger,
		Vouchers: f.vouchers, Payments: f.payments, Vault: cards,
		Pages: web.New(web.Config{Payments: f.payments, Merchants: shop.Merchants, Cards: cards, Issuer: acq, Logger: logger})})
	f.ts = httptest.NewServer(api)
	t.Cleanup(f.ts.Close)
	return f
}

// TestPageDeclinesKeepForm: on the hosted page a declined card shows the
// form again with the decline above it (what was typed kept, never the
// number or CVC), vouchers may follow a card, the page shown again says
// why the last try failed, and the third decline ends the payment.
func TestPageDeclinesKeepForm(t *testing.T) {
	f := newRetryFixture(t)
	p := f.createPayment(t, map[string]any{"amount": 2000, "currency": "EUR"})
	id, secret := p["id"].(string), p["client_secret"].(string)
	path := "/pay/" + id

	resp, body := post(t, f, path, cardForm(secret, acquirer.CardInsufficientFunds), nil)
	if resp.StatusCode != 402 || !strings.Contains(body, `id="pay-card"`) || !strings.Contains(body, "insufficient funds") ||
		!strings.Contains(body, "Try another card") {
		t.Fatalf("first decline: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `value="12/30"`) || !strings.Contains(body, `value="Ada Lovelace"`) {
		t.Error("the expiry and name typed are not kept")
	}
	if strings.Contains(body, acquirer.CardInsufficientFunds) || strings.Contains(body, `value="123"`) {
		t.Error("the page holds the card number or CVC")
	}
	if i, j := strings.Index(body, "insufficient funds"), strings.Index(body, `id="card_number"`); i < 0 || j < i {
		t.Error("the decline is not above the card form")
	}

	// Vouchers after the card: short, said above the voucher form.
	vs := f.issue(t, 1, 500, "EUR")
	resp, body = post(t, f, path, payForm(secret, vs[0].PIN), nil)
	if resp.StatusCode != 422 || !strings.Contains(body, "do not cover the amount") {
		t.Fatalf("short vouchers: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, vs[0].PIN) {
		t.Error("the page holds a PIN")
	}
	// The page shown again says why the last try failed.
	if _, body = get(t, f, f.ts.URL+path+"?client_secret="+url.QueryEscape(secret)); !strings.Contains(body, "do not cover the amount") {
		t.Errorf("the page after a declined try does not say why:\n%s", body)
	}
	_, got := f.api(t, "GET", "/v1/payments/"+id, nil)
	if got["status"] != "requires_action" || got["attempts"] != float64(2) || got["failure_code"] != "voucher_balance_insufficient" {
		t.Fatalf("after two tries: %v", got)
	}

	// The third decline ends it.
	resp, body = post(t, f, path, cardForm(secret, acquirer.CardDeclined), nil)
	if resp.StatusCode != 402 || strings.Contains(body, `id="pay-card"`) || !strings.Contains(body, "Nothing was charged") {
		t.Fatalf("third decline: %d\n%s", resp.StatusCode, body)
	}
	if _, got = f.api(t, "GET", "/v1/payments/"+id, nil); got["status"] != "failed" || got["attempts"] != float64(3) {
		t.Fatalf("after the third decline: %v", got)
	}
}
