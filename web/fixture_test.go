package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/web"
)

// fixture is Kassa's API with the hosted pages over a real SQLite store,
// on plain HTTP on loopback (a browser may post there), with a merchant
// and a voucher distributor. Every confirmation is scored by a started
// risk engine with the built-in model, as in production.
type fixture struct {
	ts       *httptest.Server
	vouchers *voucher.Service
	payments *payment.Service
	invoices *invoice.Service
	risk     *risk.Engine
	merchant merchant.Created
	issuer   string
	logs     *syncbuf.Buffer
	// merchants suspends (TestSuspendedMerchantPage).
	merchants *merchant.Service
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{logs: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	shop := shoptest.New(t, logger)
	db, led, merchants := shop.DB, shop.Ledger, shop.Merchants
	f.merchant, f.issuer, f.vouchers = shop.Merchant, shop.Issuer, shop.Vouchers
	f.merchants = merchants
	keys, err := vault.OpenKeyFile(filepath.Join(t.TempDir(), "vault-kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	fpKey := make([]byte, 32)
	rand.Read(fpKey)
	cards, err := vault.New(vault.Config{Store: sqlstore.NewVault(db), Keys: keys, FingerprintKey: fpKey, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cards.Close)
	if f.risk, err = risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "test", DefaultModel: risk.DefaultModel,
		IDs: id.Generator{}, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	riskCtx, cancelRisk := context.WithCancel(ctx)
	if err := f.risk.Start(riskCtx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancelRisk(); f.risk.Close() })
	acq := acquirer.NewTest()
	f.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: f.vouchers, Logger: logger,
		Vault: cards, Acquirer: acquirer.WithTimeout(acq, 10*time.Second), Risk: f.risk})
	f.invoices = invoice.New(invoice.Config{Store: sqlstore.NewInvoices(db), Payments: f.payments, Merchants: merchants, Logger: logger})
	api := httpapi.New(httpapi.Config{
		Logger: logger, Merchants: merchants, DB: db, Ledger: led, Vouchers: f.vouchers, Payments: f.payments, Risk: f.risk, Vault: cards,
		Invoices: f.invoices,
		Pages:    web.New(web.Config{Payments: f.payments, Merchants: merchants, Cards: cards, Issuer: acq, Invoices: f.invoices, Logger: logger}),
	})
	f.ts = httptest.NewServer(api)
	t.Cleanup(f.ts.Close)
	return f
}

// allowAutomatedBrowser lets the merchant's payments through from a
// browser that says it is automated. Headless Chromium driven by chromedp
// sets navigator.webdriver, the page reports it as it is, and the built-in
// model challenges or blocks such a payer (bot_score near 1). Tests of
// the page's flow rather than its risk allow it with a rule, as a merchant
// would allow its own checkout tests; lists still apply before rules.
func (f *fixture) allowAutomatedBrowser(t *testing.T) {
	t.Helper()
	name, expr, action := "our own browser tests", "webdriver > 0", risk.Allow
	if _, err := f.risk.CreateRule(context.Background(), f.merchant.ID,
		risk.RuleParams{Name: &name, Expression: &expr, Action: &action}); err != nil {
		t.Fatal(err)
	}
}

// evaluation is the stored risk evaluation of a payment's last
// confirmation.
func (f *fixture) evaluation(t *testing.T, paymentID string) (payment.Payment, risk.Evaluation) {
	t.Helper()
	ctx := context.Background()
	p, err := f.payments.Get(ctx, "", paymentID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Risk.EvaluationID == "" {
		t.Fatalf("payment %s (%s) was not scored", paymentID, p.Status)
	}
	ev, err := f.risk.Evaluation(ctx, p.MerchantID, p.Risk.EvaluationID)
	if err != nil {
		t.Fatal(err)
	}
	return p, ev
}

// blockSerial puts a voucher on the merchant's block list.
func blockSerial(t *testing.T, f *fixture, serial string) {
	t.Helper()
	if _, err := f.risk.PutListEntry(context.Background(), risk.ListEntry{MerchantID: f.merchant.ID, List: risk.ListBlock,
		Type: risk.EntryVoucherSerial, Value: serial, Note: "reported stolen by the kiosk"}); err != nil {
		t.Fatal(err)
	}
}

// issue makes vouchers of amount minor units each and returns their PINs.
func (f *fixture) issue(t *testing.T, n int, amount money.Amount, cur money.Currency) []voucher.Issued {
	t.Helper()
	vs, err := f.vouchers.Issue(context.Background(), voucher.IssueRequest{Count: n, Amount: amount, Currency: cur, IssuedBy: f.issuer})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// api calls the JSON API with the merchant's secret key.
func (f *fixture) api(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+f.merchant.SecretKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// createPayment makes a payment through the API and returns it.
func (f *fixture) createPayment(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	status, p := f.api(t, "POST", "/v1/payments", body)
	if status != 201 {
		t.Fatalf("create payment = %d %v", status, p)
	}
	return p
}

// redirectURL is where the API sends the payer.
func redirectURL(t *testing.T, p map[string]any) string {
	t.Helper()
	na, _ := p["next_action"].(map[string]any)
	u, _ := na["redirect_url"].(string)
	if !strings.Contains(u, "/pay/") {
		t.Fatalf("next_action = %v", p["next_action"])
	}
	return u
}
