package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestE2EInvoices: over TLS on both backends, a merchant bills a customer
// (create, finalize with the first number of its sequence, the PDF), the
// customer opens the invoice's page and is sent to the checkout, pays by
// voucher and never comes back: the leased invoices job marks the invoice
// paid. Reconcile and ledger verify stay clean.
func TestE2EInvoices(t *testing.T) { forEachBackend(t, testE2EInvoices) }

func testE2EInvoices(t *testing.T, b backend) {
	sk, pk := createMerchantKeys(t, b)
	out, err := runKassa(t, b, "vouchers", "issue", "--count", "1", "--amount", "5000", "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v issuedVoucher
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &v); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, b, "--rate-limit", "0")
	inv := s.call(t, "POST", "/v1/invoices", sk, "inv-1", map[string]any{
		"customer": map[string]any{"id": "c-42", "name": "Erika Mustermann", "email": "erika@example.com",
			"address": map[string]any{"line1": "Heidestraße 17", "postal_code": "51147", "city": "Köln", "country": "DE"}},
		"currency": "EUR", "due_days": 14,
		"lines": []map[string]any{
			{"description": "Consulting, March", "quantity": 3, "unit_amount": 1000, "tax_rate": 19},
			{"description": "Book", "quantity": 1, "unit_amount": 555, "tax_rate": 7},
		},
	}, 201)
	id := inv["id"].(string)
	inv = s.call(t, "POST", "/v1/invoices/"+id+"/finalize", sk, "", nil, 200)
	if n, _ := inv["number"].(string); !strings.HasSuffix(n, fmt.Sprintf("-%d-000001", time.Now().UTC().Year())) || inv["total"] != 4164.0 {
		t.Fatalf("finalized: %v", inv)
	}
	get := func(path, key string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", s.base+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	if resp, body := get("/v1/invoices/"+id+"/pdf", sk); resp.StatusCode != 200 || !strings.HasPrefix(string(body), "%PDF-") {
		t.Fatalf("pdf = %d", resp.StatusCode)
	}
	// The customer's page, then the checkout it sends them to.
	hosted, err := url.Parse(inv["hosted_invoice_url"].(string))
	if err != nil || !strings.HasPrefix(hosted.Path, "/i/"+id) {
		t.Fatalf("hosted_invoice_url %v", inv["hosted_invoice_url"])
	}
	key := hosted.Query().Get("key")
	if resp, body := get("/i/"+id+"?key="+url.QueryEscape(key), ""); resp.StatusCode != 200 || !strings.Contains(string(body), inv["number"].(string)) {
		t.Fatalf("page = %d", resp.StatusCode)
	}
	noFollow := *s.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.PostForm(s.base+"/i/"+id, url.Values{"key": {key}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || err != nil || !strings.HasPrefix(loc.Path, "/pay/pay_") {
		t.Fatalf("pay = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	pid := strings.TrimPrefix(loc.Path, "/pay/")
	if c := s.call(t, "POST", "/v1/payments/"+pid+"/confirm", pk, "", map[string]any{
		"client_secret": loc.Query().Get("client_secret"), "payment_method": map[string]any{"type": "voucher", "pins": []string{v.PIN}}}, 200); c["status"] != "captured" {
		t.Fatalf("confirm: %v", c)
	}
	// The list does not look at payments itself: the job marks it paid.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l := s.call(t, "GET", "/v1/invoices?status=paid", sk, "", nil, 200)
		if data := l["data"].([]any); len(data) == 1 && data[0].(map[string]any)["payment"] == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the invoice was not marked paid within 60 s: %v", l)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if out, err := runKassa(t, b, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
		t.Errorf("reconcile: %v %s", err, out)
	}
	if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
		t.Errorf("ledger verify: %v %s", err, out)
	}
}
