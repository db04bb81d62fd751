package web_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/web"
)

// TestComplianceWording: every refusal of the compliance gate reads as
// the catalogue's text in the payer's language, with the date it lifts,
// and never as a problem code.
func TestComplianceWording(t *testing.T) {
	lifts := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	at := map[string]any{"lifts_at": lifts.Format(time.RFC3339)}
	tests := []struct {
		e      *kassa.Error
		en, de string
	}{
		{&kassa.Error{Code: compliance.CodeDepositLimitReached, Details: at}, "from 1 April 2026", "ab 1. April 2026"},
		{&kassa.Error{Code: compliance.CodeDepositLimitReached}, "over your deposit limit", "Einzahlungslimit"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded, Details: at}, "excluded yourself from gambling deposits until 1 April 2026", "bis 1. April 2026"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded, Details: map[string]any{"lifts_at": at["lifts_at"], "cool_off": true}}, "taking a break", "Pause"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded}, "indefinitely", "unbefristet"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded, Details: map[string]any{"register": "spelpaus"}}, "self-exclusion register", "Sperrdatei"},
		{&kassa.Error{Code: compliance.CodeRegisterUnavailable}, "try again in a few minutes", "in einigen Minuten"},
		{&kassa.Error{Code: compliance.CodeKYCRequired}, "verified identity", "bestätigter Identität"},
		{&kassa.Error{Code: compliance.CodeAgeRestricted}, "older", "zu jung"},
		{&kassa.Error{Code: compliance.CodeMethodNotAllowed}, "not allowed for gambling", "nicht erlaubt"},
	}
	for _, tt := range tests {
		for l, want := range map[web.Lang]string{web.LangEN: tt.en, web.LangDE: tt.de} {
			got, ok := web.ComplianceMessage(l, tt.e)
			if !ok || !strings.Contains(got, want) {
				t.Errorf("%s %s: %q, want it to say %q", l, tt.e.Code, got, want)
			}
			if strings.Contains(got, tt.e.Code) || strings.Contains(got, "_") {
				t.Errorf("%s %s: %q names a code", l, tt.e.Code, got)
			}
			if !strings.Contains(got, map[web.Lang]string{web.LangEN: "Nothing was charged", web.LangDE: "nichts abgebucht"}[l]) {
				t.Errorf("%s %s: %q does not say whether money moved", l, tt.e.Code, got)
			}
		}
	}
	if _, ok := web.ComplianceMessage(web.LangEN, &kassa.Error{Code: "pin_invalid"}); ok {
		t.Error("a PIN error was taken for a compliance refusal")
	}
}

// TestComplianceOnThePage: the hosted page of a German licensee shows a
// payer's anonymous voucher refused in their words (en, de), and no
// money moves; the same page of a shop takes it.
func TestComplianceOnThePage(t *testing.T) {
	f := &fixture{logs: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	shop := shoptest.New(t, logger)
	f.merchant, f.issuer, f.vouchers = shop.Merchant, shop.Issuer, shop.Vouchers
	clk := testclock.New(time.Now())
	gate := compliance.New(compliance.Config{Store: sqlstore.NewCompliance(shop.DB), Merchants: shop.Merchants, Logger: logger,
		Clock: clk.Now})
	f.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(shop.DB), Ledger: shop.Ledger, Vouchers: f.vouchers,
		Logger: logger, Gate: compliance.PaymentGate{Service: gate}})
	f.ts = httptest.NewServer(httpapi.New(httpapi.Config{Logger: logger, Merchants: shop.Merchants, DB: shop.DB, Ledger: shop.Ledger,
		Vouchers: f.vouchers, Payments: f.payments,
		Pages: web.New(web.Config{Payments: f.payments, Merchants: shop.Merchants, Logger: logger})}))
	t.Cleanup(f.ts.Close)

	vs := f.issue(t, 2, 2000, "EUR")
	pay := func(lang string, pin string) (int, string) {
		p := f.createPayment(t, map[string]any{"amount": 1000, "currency": "EUR"})
		resp, body := post(t, f, "/pay/"+p["id"].(string), payForm(p["client_secret"].(string), pin),
			map[string]string{"Accept-Language": lang})
		return resp.StatusCode, body
	}
	// Paid with vouchers, the answer is the receipt (what is left on the voucher).
	if st, body := pay("en", vs[0].PIN); st != 200 || !strings.Contains(body, `id="vouchers-left"`) {
		t.Fatalf("a shop's voucher payment = %d, want paid (the receipt)\n%s", st, body)
	}
	gambling, de := merchant.CategoryGambling, "DE"
	if _, err := shop.Merchants.SetProfile(context.Background(), f.merchant.ID, merchant.Profile{Category: &gambling, Country: &de}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(6 * time.Second) // the gate's cache of merchant profiles (5 s)
	for lang, want := range map[string]string{"en": "This way of paying is not allowed for gambling here. Nothing was charged",
		"de": "Diese Zahlungsart ist für Glücksspiel hier nicht erlaubt. Es wurde nichts abgebucht"} {
		st, body := pay(lang, vs[1].PIN)
		if st != 422 || !strings.Contains(body, want) || strings.Contains(body, compliance.CodeMethodNotAllowed) {
			t.Errorf("%s: %d, want 422 saying %q\n%s", lang, st, want, body)
		}
	}
	bal, err := f.vouchers.Refresh(context.Background(), vs[1].Serial)
	if err != nil || bal.Balance != 2000 {
		t.Errorf("the refused voucher holds %d, %v; want 2000", bal.Balance, err)
	}
}
