package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/invoice"
)

// newInvoice makes and finalizes an invoice of 35.55 + tax through the
// API and returns it with its page's URL.
func (f *fixture) newInvoice(t *testing.T, locale string) (map[string]any, string) {
	t.Helper()
	status, inv := f.api(t, "POST", "/v1/invoices", map[string]any{
		"customer": map[string]any{"id": "c-42", "name": "Erika Mustermann", "email": "erika@example.com",
			"address": map[string]any{"line1": "Heidestraße 17", "postal_code": "51147", "city": "Köln", "country": "DE"}},
		"currency": "EUR", "due_days": 14, "locale": locale, "footer": "Thank you for your order.",
		"lines": []map[string]any{
			{"description": "Consulting, March", "quantity": 3, "unit_amount": 1000, "tax_rate": 19},
			{"description": "Book", "quantity": 1, "unit_amount": 555, "tax_rate": 7},
		},
	})
	if status != 201 {
		t.Fatalf("create invoice = %d %v", status, inv)
	}
	status, inv = f.api(t, "POST", "/v1/invoices/"+inv["id"].(string)+"/finalize", nil)
	if status != 200 {
		t.Fatalf("finalize = %d %v", status, inv)
	}
	return inv, inv["hosted_invoice_url"].(string)
}

func (f *fixture) invoiceStatus(t *testing.T, id string) invoice.Invoice {
	t.Helper()
	inv, err := f.invoices.Get(context.Background(), f.merchant.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestBrowserInvoicePaidByVoucher: the customer opens the invoice's page,
// pays on the checkout with a voucher, comes back to the page, and the
// invoice is paid.
func TestBrowserInvoicePaidByVoucher(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	f.allowAutomatedBrowser(t)
	inv, u := f.newInvoice(t, "en")
	id := inv["id"].(string)
	vs := f.issue(t, 1, 5000, "EUR")
	var due, heading, status, loc string
	b.Run(
		chromedp.Navigate(u),
		browser.Loaded("#invoice-pay-button"),
		chromedp.Text("#invoice-due", &due, chromedp.ByID),
		chromedp.Text("h1", &heading, chromedp.ByQuery),
	)
	if due != "€41.64" || !strings.Contains(heading, inv["number"].(string)) {
		t.Fatalf("page shows %q, %q", due, heading)
	}
	b.Snap("invoice-open")
	b.Run(
		chromedp.Click("#invoice-pay-button", chromedp.ByID),
		browser.Loaded("#pin-1"),
		chromedp.SendKeys("#pin-1", vs[0].PIN, chromedp.ByID),
		chromedp.Click("#submit", chromedp.ByID),
		// Paid with vouchers, the checkout shows what is left on each
		// voucher and the way back to the invoice.
		browser.Loaded("#vouchers-left"),
		chromedp.Click("#back", chromedp.ByID),
		browser.Loaded("#invoice-status"),
		chromedp.Text("#invoice-status", &status, chromedp.ByID),
		chromedp.Location(&loc),
	)
	if !strings.HasPrefix(loc, f.ts.URL+"/i/"+id+"?key=") || !strings.Contains(status, "Paid") {
		t.Fatalf("back at %s, status %q", loc, status)
	}
	b.Snap("invoice-paid")
	if got := f.invoiceStatus(t, id); got.Status != invoice.StatusPaid || got.AmountPaid != 4164 {
		t.Fatalf("invoice is %s, paid %d", got.Status, got.AmountPaid)
	}
}

// TestBrowserInvoicePaidByCard: the same with the test acquirer's card.
func TestBrowserInvoicePaidByCard(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	f.allowAutomatedBrowser(t)
	inv, u := f.newInvoice(t, "de")
	id := inv["id"].(string)
	var status string
	b.Run(network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": "de-DE"}))
	b.Run(
		chromedp.Navigate(u),
		browser.Loaded("#invoice-pay-button"),
		chromedp.Click("#invoice-pay-button", chromedp.ByID),
		browser.Loaded("#card_number"),
		chromedp.SendKeys("#card_number", "4242 4242 4242 4242", chromedp.ByID),
		chromedp.SendKeys("#card_expiry", "12/30", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
		chromedp.SendKeys("#card_name", "Erika Mustermann", chromedp.ByID),
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded("#invoice-status"),
		chromedp.Text("#invoice-status", &status, chromedp.ByID),
	)
	if !strings.Contains(status, "Bezahlt") {
		t.Fatalf("status %q", status)
	}
	if got := f.invoiceStatus(t, id); got.Status != invoice.StatusPaid {
		t.Fatalf("invoice is %s", got.Status)
	}
}

// TestInvoicePageStranger: without the key, with a wrong key, another
// invoice's key, a draft, a cross-site form: the same not-found page, and
// nothing is made.
func TestInvoicePageStranger(t *testing.T) {
	f := newFixture(t)
	inv, u := f.newInvoice(t, "en")
	id := inv["id"].(string)
	other, _ := f.newInvoice(t, "en")
	pu, _ := url.Parse(u)
	key := pu.Query().Get("key")
	_, draft := f.api(t, "POST", "/v1/invoices", map[string]any{
		"customer": map[string]any{"id": "c", "name": "N", "email": "n@example.com",
			"address": map[string]any{"line1": "l", "city": "c", "country": "DE"}},
		"currency": "EUR", "lines": []map[string]any{{"description": "x", "quantity": 1, "unit_amount": 100, "tax_rate": 0}}})
	get := func(path string) (int, string) {
		resp, err := f.ts.Client().Get(f.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{
		"/i/" + id, "/i/" + id + "?key=", "/i/" + id + "?key=" + key[:len(key)-1] + "1", /* "1" is not in the keys' base32 alphabet */
		"/i/" + other["id"].(string) + "?key=" + key, "/i/" + draft["id"].(string) + "?key=" + key,
		"/i/" + id + "?key=" + strings.Repeat("a", 5000), "/i/" + id + "/pdf?key=nope", "/i/in_nothere?key=" + key,
		"/i/in_%ff%fe?key=" + key, "/i/in_%00?key=" + key, "/i/" + id + "?key=%ff",
	} {
		if code, body := get(path); code != 404 || !strings.Contains(body, "Invoice not found") || strings.Contains(body, "Erika") {
			t.Errorf("%s = %d", path, code)
		}
	}
	if code, body := get("/i/" + id + "/pdf?key=" + key); code != 200 || !strings.HasPrefix(body, "%PDF-") {
		t.Errorf("the PDF with the key = %d", code)
	}
	// A form from another site: refused, no payment made.
	req, _ := http.NewRequest("POST", f.ts.URL+"/i/"+id, strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-site form = %d", resp.StatusCode)
	}
	// A wrong key in the form: 404, no payment.
	resp, body := post(t, f, "/i/"+id, url.Values{"key": {"wrong"}}, nil)
	if resp.StatusCode != 404 || strings.Contains(body, "Erika") {
		t.Errorf("wrong key in the form = %d", resp.StatusCode)
	}
	if got := f.invoiceStatus(t, id); got.PaymentID != "" {
		t.Fatalf("a payment was made: %s", got.PaymentID)
	}
}

// TestBrowserInvoiceAccessibility runs axe-core on the invoice page:
// open, overdue is the same page, paid, void; English and German; a
// phone's and a desktop's width.
func TestBrowserInvoiceAccessibility(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	if !browser.AxeAvailable() {
		b.Axe("the invoice page") // skips loudly, or fails when CI requires axe-core
		return
	}
	ctx := context.Background()
	open := func() string { _, u := f.newInvoice(t, "en"); return u }
	paid := func() string {
		inv, u := f.newInvoice(t, "en")
		pu, _ := url.Parse(u)
		p, _, err := f.invoices.Pay(ctx, inv["id"].(string), pu.Query().Get("key"), "https://pay.example/back")
		if err != nil {
			t.Fatal(err)
		}
		post(t, f, "/pay/"+p.ID, payForm(p.ClientSecret, f.issue(t, 1, 5000, "EUR")[0].PIN), nil)
		return u
	}
	void := func() string {
		inv, u := f.newInvoice(t, "en")
		f.api(t, "POST", "/v1/invoices/"+inv["id"].(string)+"/void", nil)
		return u
	}
	cases := []struct {
		name string
		url  func() string
	}{{"open", open}, {"paid", paid}, {"void", void}, {"not-found", func() string { return f.ts.URL + "/i/in_nothere?key=x" }}}
	for _, lang := range []string{"en-IE", "de-AT"} {
		b.Run(network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": lang}))
		for _, width := range []int64{375, 1280} {
			b.Run(emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500))
			for _, c := range cases {
				what := fmt.Sprintf("invoice-%s-%s-%d", c.name, lang, width)
				b.Run(chromedp.Navigate(c.url()), browser.Loaded("h1"))
				b.Axe(what)
			}
		}
	}
}
