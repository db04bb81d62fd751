package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kassa/kassa/httpapi"
)

const invoiceBody = `{
	"customer": {"id": "c-42", "name": "Erika Mustermann", "email": "erika@example.com",
		"address": {"line1": "Heidestraße 17", "postal_code": "51147", "city": "Köln", "country": "DE"}},
	"currency": "EUR",
	"lines": [
		{"description": "Consulting, March", "quantity": 3, "unit_amount": 1000, "tax_rate": 19},
		{"description": "Book", "quantity": 1, "unit_amount": 555, "tax_rate": 7.5}
	],
	"due_days": 14,
	"footer": "Thank you."
}`

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func TestInvoicesAPI(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	key := f.merchant.SecretKey
	resp, body := f.do(t, "POST", "/v1/invoices", key, "application/json", invoiceBody)
	if resp.StatusCode != 201 {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	inv := decodeMap(t, body)
	id := inv["id"].(string)
	// 3000 + 570; 555 + 41.625 → 42.
	if inv["status"] != "draft" || inv["number"] != nil || inv["subtotal"] != 3555.0 || inv["tax"] != 612.0 ||
		inv["total"] != 4167.0 || inv["hosted_invoice_url"] != nil || inv["rounding"] != "per_line_half_up" {
		t.Fatalf("draft = %s", body)
	}
	lines := inv["lines"].([]any)
	if l := lines[1].(map[string]any); l["tax_rate"] != 7.5 || l["tax"] != 42.0 || l["amount"] != 555.0 {
		t.Fatalf("line = %v", l)
	}
	// A draft is edited; a finalized invoice is not.
	resp, body = f.do(t, "POST", "/v1/invoices/"+id, key, "application/json", `{"due_days": 30}`)
	if resp.StatusCode != 200 || decodeMap(t, body)["due_days"] != 30.0 {
		t.Fatalf("update draft = %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "POST", "/v1/invoices/"+id+"/finalize", key, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("finalize = %d %s", resp.StatusCode, body)
	}
	inv = decodeMap(t, body)
	if inv["status"] != "open" || inv["number"] != "ACME-2026-000001" && !strings.HasSuffix(inv["number"].(string), "-000001") ||
		!strings.HasPrefix(inv["hosted_invoice_url"].(string), f.ts.URL+"/i/"+id+"?key=") || inv["amount_due"] != 4167.0 {
		t.Fatalf("finalized = %s", body)
	}
	resp, body = f.do(t, "POST", "/v1/invoices/"+id, key, "application/json", `{"footer": "changed"}`)
	problem(t, resp, body, 409, "invoice_not_draft")
	resp, body = f.do(t, "POST", "/v1/invoices/"+id+"/finalize", key, "", "")
	problem(t, resp, body, 409, "invoice_status_invalid")
	// The PDF.
	resp, body = f.do(t, "GET", "/v1/invoices/"+id+"/pdf", key, "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(body, []byte("%PDF-")) ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), inv["number"].(string)+".pdf") {
		t.Fatalf("pdf = %d %v", resp.StatusCode, resp.Header)
	}
	// Lists, settings.
	resp, body = f.do(t, "GET", "/v1/invoices?status=open&limit=5", key, "", "")
	if resp.StatusCode != 200 || len(decodeMap(t, body)["data"].([]any)) != 1 {
		t.Fatalf("list = %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "POST", "/v1/invoice_settings", key, "application/json", `{"number_prefix": "KS-1", "seller_vat_id": "DE811907980"}`)
	if resp.StatusCode != 200 || decodeMap(t, body)["number_prefix"] != "KS-1" {
		t.Fatalf("settings = %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "POST", "/v1/invoice_settings", key, "application/json", `{"number_prefix": "ks 1"}`)
	problem(t, resp, body, 400, "parameter_invalid")
	// Void keeps the number; credit notes need a paid invoice.
	resp, body = f.do(t, "POST", "/v1/invoices/"+id+"/credit_notes", key, "application/json", `{}`)
	problem(t, resp, body, 409, "invoice_status_invalid")
	resp, body = f.do(t, "POST", "/v1/invoices/"+id+"/void", key, "", "")
	if resp.StatusCode != 200 || decodeMap(t, body)["status"] != "void" || decodeMap(t, body)["number"] != inv["number"] {
		t.Fatalf("void = %d %s", resp.StatusCode, body)
	}
}

// TestInvoicesHostile: what a hostile merchant or a stranger tries.
func TestInvoicesHostile(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	key := f.merchant.SecretKey
	other, err := f.svc.Create(context.Background(), "Other Shop")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "POST", "/v1/invoices", key, "application/json", invoiceBody)
	if resp.StatusCode != 201 {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	id := decodeMap(t, body)["id"].(string)
	// Another merchant's key: 404 on every route, nothing changes.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/invoices/" + id, ""},
		{"POST", "/v1/invoices/" + id, `{"footer": "mine"}`},
		{"POST", "/v1/invoices/" + id + "/finalize", ""},
		{"POST", "/v1/invoices/" + id + "/void", ""},
		{"POST", "/v1/invoices/" + id + "/mark_uncollectible", ""},
		{"GET", "/v1/invoices/" + id + "/pdf", ""},
		{"POST", "/v1/invoices/" + id + "/credit_notes", `{}`},
		{"GET", "/v1/invoices/" + id + "/credit_notes", ""},
	} {
		ct := ""
		if r.body != "" {
			ct = "application/json"
		}
		resp, body := f.do(t, r.method, r.path, other.SecretKey, ct, r.body)
		problem(t, resp, body, 404, "invoice_not_found")
	}
	resp, body = f.do(t, "GET", "/v1/invoices", other.SecretKey, "", "")
	if len(decodeMap(t, body)["data"].([]any)) != 0 {
		t.Fatalf("the other merchant lists %s", body)
	}
	// No key, a publishable key.
	resp, body = f.do(t, "GET", "/v1/invoices/"+id, "", "", "")
	if resp.StatusCode != 401 {
		t.Fatalf("no key = %d", resp.StatusCode)
	}
	resp, _ = f.do(t, "POST", "/v1/invoices", f.merchant.PublishableKey, "application/json", invoiceBody)
	if resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Fatalf("publishable key = %d", resp.StatusCode)
	}
	// Bad lines: each a problem naming its field.
	for _, tt := range []struct{ line, param, code string }{
		{`{"description": "x", "quantity": -2, "unit_amount": 100, "tax_rate": 19}`, "lines[0].quantity", "quantity_invalid"},
		{`{"description": "x", "quantity": 1.5, "unit_amount": 100, "tax_rate": 19}`, "lines[0].quantity", "quantity_invalid"},
		{`{"description": "x", "quantity": 1, "unit_amount": -100, "tax_rate": 19}`, "lines[0].unit_amount", "amount_invalid"},
		{`{"description": "x", "quantity": 1, "unit_amount": 10.5, "tax_rate": 19}`, "lines[0].unit_amount", "amount_invalid"},
		{`{"description": "x", "quantity": 1, "unit_amount": 100, "tax_rate": 190}`, "lines[0].tax_rate", "tax_rate_invalid"},
		{`{"description": "x", "quantity": 1, "unit_amount": 100, "tax_rate": -7}`, "lines[0].tax_rate", "tax_rate_invalid"},
		{`{"description": "x", "quantity": 1, "unit_amount": 100, "tax_rate": 7.125}`, "lines[0].tax_rate", "tax_rate_invalid"},
		{`{"description": "x", "quantity": 1, "unit_amount": 100}`, "lines[0].tax_rate", "tax_rate_invalid"},
		{`{"description": "x", "quantity": 99999999999999999999, "unit_amount": 100, "tax_rate": 0}`, "lines[0].quantity", "quantity_invalid"},
		{`{"description": "", "quantity": 1, "unit_amount": 100, "tax_rate": 0}`, "lines[0].description", "parameter_missing"},
		{`{"description": "x", "quantity": 1000000, "unit_amount": 1000000000, "tax_rate": 0}`, "lines", "invoice_total_invalid"},
	} {
		b := strings.Replace(invoiceBody, `{"description": "Book", "quantity": 1, "unit_amount": 555, "tax_rate": 7.5}`, tt.line, 1)
		b = strings.Replace(b, `{"description": "Consulting, March", "quantity": 3, "unit_amount": 1000, "tax_rate": 19},`, "", 1)
		resp, body := f.do(t, "POST", "/v1/invoices", key, "application/json", b)
		if p := problem(t, resp, body, 400, tt.code); p["param"] != tt.param {
			t.Errorf("%s: param %v, want %s", tt.line, p["param"], tt.param)
		}
	}
	many := `{"description": "x", "quantity": 1, "unit_amount": 1, "tax_rate": 0}` + strings.Repeat(`, {"description": "x", "quantity": 1, "unit_amount": 1, "tax_rate": 0}`, 250)
	b := strings.Replace(invoiceBody, `{"description": "Book", "quantity": 1, "unit_amount": 555, "tax_rate": 7.5}`, many, 1)
	resp, body = f.do(t, "POST", "/v1/invoices", key, "application/json", b)
	problem(t, resp, body, 400, "parameter_invalid")
	resp, body = f.do(t, "POST", "/v1/invoices", key, "application/json", strings.Replace(invoiceBody, `"due_days": 14`, `"due_days": 14, "amount_paid": 99`, 1))
	problem(t, resp, body, 400, "unknown_field")
	resp, body = f.do(t, "GET", "/v1/invoices?limit=1000", key, "", "")
	problem(t, resp, body, 400, "limit_invalid")
	resp, body = f.do(t, "GET", "/v1/invoices?status=everything", key, "", "")
	problem(t, resp, body, 400, "parameter_invalid")
	_ = http.StatusOK
}
