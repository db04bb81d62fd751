package invoice_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kassa/kassa/invoice"
)

// pdfText is the text of a PDF as Debian's pdftotext (poppler-utils)
// reads it: a reader independent of the library that wrote it. Without
// it the test skips loudly, unless KASSA_TEST_REQUIRE names pdftotext.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	path, err := exec.LookPath("pdftotext")
	if err != nil {
		if slices.Contains(strings.Split(os.Getenv("KASSA_TEST_REQUIRE"), ","), "pdftotext") {
			t.Fatalf("pdftotext is required (KASSA_TEST_REQUIRE) but not installed: %v", err)
		}
		t.Skipf("SKIPPING: pdftotext not installed (apt-get install poppler-utils); the invoice PDF is not read back")
	}
	in := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "-layout", "-enc", "UTF-8", in, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	// The layout puts a space before a percent sign or not, as the
	// glyphs' positions fall: compare without it.
	return strings.ReplaceAll(string(out), " %", "%")
}

func TestPDFText(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	addr, vat := "Hauptstraße 1\n10115 Berlin", "DE811907980"
	if _, err := e.svc.PutSettings(ctx, e.merchant, invoice.SettingsParams{SellerAddress: &addr, SellerVATID: &vat}); err != nil {
		t.Fatal(err)
	}
	p := params()
	footer := "Bank: Testbank, IBAN DE89 3704 0044 0532 0130 00"
	p.Footer = &footer
	lines := *p.Lines
	lines = append(lines, invoice.Line{Description: strings.Repeat("A long line that wraps over the description column. ", 4),
		Quantity: 12, UnitAmount: 123456, TaxRate: 1900})
	p.Lines = &lines
	inv, err := e.svc.Finalize(ctx, e.merchant, e.create(p).ID)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := e.svc.PDF(ctx, e.merchant, inv.ID, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", b.Bytes()[:min(20, b.Len())])
	}
	text := pdfText(t, b.Bytes())
	// 12 × 1,234.56 = 14,814.72 net, tax 2,814.80 (2,814.7968 half up);
	// lines 1 and 2 as in TestTotalsPerLineHalfUp.
	for _, want := range []string{
		"Acme Bets & Games", "Hauptstraße 1", "DE811907980",
		"Invoice", inv.Number, "ACME-2026-000001", "10 March 2026", "24 March 2026",
		"Erika Mustermann", "Heidestraße 17", "51147 Köln",
		"Consulting, March", "10.00 EUR", "30.00 EUR", "19%",
		"Book: Double-entry bookkeeping", "5.55 EUR", "7%",
		"A long line that wraps", "1,234.56 EUR", "14,814.72 EUR",
		"Subtotal", "14,850.27 EUR",
		"VAT 19% on 14,844.72 EUR", "2,820.50 EUR",
		"VAT 7% on 5.55 EUR", "0.39 EUR",
		"Total", "17,671.16 EUR",
		"rounded per line", "Pay online: https://pay.example/i/" + inv.ID,
		footer, "Page 1 of 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q:\n%s", want, text)
		}
	}
	if t.Failed() {
		return
	}
	sum := inv.Subtotal + inv.Tax
	if inv.Subtotal != 1485027 || inv.Tax != 282050+39 || inv.Total != sum || inv.Total != 1767116 {
		t.Fatalf("totals %d + %d = %d", inv.Subtotal, inv.Tax, inv.Total)
	}
}

func TestPDFReverseChargeGerman(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	p := params()
	rc, de := true, "de"
	p.ReverseCharge, p.Locale = &rc, &de
	p.Customer.VATID = "ATU12345678"
	inv, err := e.svc.Finalize(ctx, e.merchant, e.create(p).ID)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := e.svc.PDF(ctx, e.merchant, inv.ID, &b); err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, b.Bytes())
	for _, want := range []string{"Rechnung", inv.Number, "10.03.2026", "ATU12345678", "35,55 EUR", "0%",
		"Gesamtbetrag", "Steuerschuldnerschaft des Leistungsempfängers", "USt. 0% auf 30,00 EUR"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q:\n%s", want, text)
		}
	}
}
