package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/business"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
)

// downloads lets the browser save downloads into a fresh directory.
func downloads(t *testing.T, b *browser.Browser) string {
	dir := t.TempDir()
	b.Run(cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir))
	return dir
}

// downloaded waits for the browser to have saved name into dir and
// returns its content.
func downloaded(t *testing.T, dir, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) > 0 {
			return string(b)
		}
		select {
		case <-ctx.Done():
			entries, _ := os.ReadDir(dir)
			t.Fatalf("no download %s in %v", name, entries)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestConsoleBrowserFinance: a finance member, in Chromium, reads the
// balance, filters balance transactions, downloads them as CSV, asks for
// a report and downloads it once the reports job made it, opens a
// settlement, and approves a held payout. An analyst is offered neither
// the finance pages nor the approve button.
func TestConsoleBrowserFinance(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	ctx := context.Background()
	for i := range 3 {
		f.pay(t, f.merchant.ID, money.Amount(1500+500*i), payment.CaptureAutomatic)
	}
	s := f.settle(t, f.merchant.ID)
	f.pay(t, f.merchant.ID, 20000, payment.CaptureAutomatic)
	f.pay(t, f.merchant.ID, 700, payment.CaptureManual)
	held := f.payout(t, f.merchant.ID, 4500)
	f.payout(t, f.merchant.ID, 600)
	inv := f.invoice(t, f.merchant.ID)
	dir := downloads(t, b)

	fin := f.join(t, f.merchant.ID, "finance@example.com", members.Finance)
	f.browserLogin(t, b, fin, "finance")
	b.Run(clickTo(`header nav a[href="/console/finance"]`, "#balance"))
	shot(t, b, "finance-balance")
	if got := text(b, "#balance tbody tr"); !strings.Contains(got, "EUR") || !strings.Contains(got, "7.00") {
		t.Errorf("balance row %q", got)
	}

	b.Run(clickTo(`nav.subnav a[href="/console/finance/transactions"]`, "#filter"),
		chromedp.SetValue("#type", "charge", chromedp.ByID), clickTo("#filter", "#csv"))
	shot(t, b, "finance-transactions")
	if got := text(b, "main section.panel tbody"); strings.Contains(got, "settlement") || strings.Count(got, "charge") != 4 {
		t.Errorf("filtered by charge:\n%s", got)
	}
	b.Run(chromedp.Click("#csv", chromedp.ByID))
	csv := downloaded(t, dir, "balance_transactions.csv")
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[0], "id,type,amount") {
		t.Errorf("CSV:\n%s", csv)
	}

	b.Run(chromedp.Navigate(f.origin+"/console/finance/settlements"), browser.Loaded("main table"))
	shot(t, b, "finance-settlements")
	b.Run(clickTo(`a[href="/console/finance/settlements/`+s.ID+`"]`, "#settlement-status"))
	shot(t, b, "finance-settlement")
	if got := text(b, "#settlement-amount"); got != "60.00 EUR" {
		t.Errorf("settlement amount %q", got)
	}

	today := f.clock.Now().UTC().Format("2006-01-02")
	b.Run(chromedp.Navigate(f.origin+"/console/finance/reports"), browser.Loaded("#report-create"),
		chromedp.SetValue("#report-type", "payments", chromedp.ByID),
		chromedp.SetValue("#report-from", today, chromedp.ByID), chromedp.SetValue("#report-to", today, chromedp.ByID),
		clickTo("#report-create", ".notice"))
	if _, err := f.fin.Business.RunReports(ctx); err != nil { // the reports job
		t.Fatal(err)
	}
	rs, _, _ := f.fin.Business.Reports(ctx, f.merchant.ID, "", 1)
	b.Run(chromedp.Navigate(f.origin+"/console/finance/reports"), browser.Loaded("#reports"))
	shot(t, b, "finance-reports")
	b.Run(chromedp.Click(`a[href="/console/finance/reports/`+rs[0].ID+`/file"]`, chromedp.ByQuery))
	if got := downloaded(t, dir, rs[0].ID+".csv"); strings.Count(got, "pay_") < 4 {
		t.Errorf("report file:\n%s", got)
	}

	b.Run(chromedp.Navigate(f.origin+"/console/finance/invoices/"+inv.ID), browser.Loaded("#invoice-pdf"))
	shot(t, b, "finance-invoice")

	b.Run(clickTo(`header nav a[href="/console/payouts"]`, "#po-filter"),
		chromedp.SetValue("#po-status", "requires_review", chromedp.ByID), clickTo("#po-filter", "main table"))
	shot(t, b, "finance-payouts")
	b.Run(clickTo(`a[href="/console/payouts/`+held.ID+`"]`, "#approve"))
	shot(t, b, "finance-payout")
	b.Run(chromedp.SendKeys("#approve-reason", "known payee", chromedp.ByID), clickTo("#approve", "#payout-status"))
	if got := text(b, "#payout-status"); got != string(payout.StatusPending) {
		t.Errorf("after approval: %q", got)
	}
	if has(b, "#approve") {
		t.Error("the approve button is still offered")
	}
	found := false
	for _, e := range f.auditActions(t, f.merchant.ID) {
		found = found || (e.Action == "payout.approve" && e.Target == held.ID && e.Actor.ID == fin.ID)
	}
	if !found {
		t.Error("the approval is not in the audit log")
	}

	// An analyst: no Finance or Payouts link, 403 and no button.
	b2 := browser.New(t)
	an := f.join(t, f.merchant.ID, "analyst2@example.com", members.Analyst)
	f.browserLogin(t, b2, an, "analyst2")
	if has(b2, `header nav a[href="/console/finance"]`) || has(b2, `header nav a[href="/console/payouts"]`) {
		t.Error("an analyst is offered the finance or payouts pages")
	}
	other := f.payout(t, f.merchant.ID, 2500)
	b2.Run(chromedp.Navigate(f.origin+"/console/payouts/"+other.ID), browser.Loaded("main h1"))
	if text(b2, "main h1") != "Not for your role" || has(b2, "#approve") {
		t.Errorf("an analyst reaches the payout: %q", text(b2, "main h1"))
	}
}

// financePages gives the merchant something on each finance, payouts and
// support page and lists them for TestConsoleBrowserAccessibility.
func (f *fixture) financePages(t *testing.T) []struct{ path, sel, name string } {
	t.Helper()
	f.pay(t, f.merchant.ID, 4000, payment.CaptureAutomatic)
	s := f.settle(t, f.merchant.ID)
	f.pay(t, f.merchant.ID, 3000, payment.CaptureAutomatic)
	held := f.payout(t, f.merchant.ID, 2000)
	inv := f.invoice(t, f.merchant.ID)
	f.customerDeposit(t, "player-1", 3500)
	f.limitCustomer(t, "player-1", "")
	if _, err := f.fin.Business.CreateReport(context.Background(), f.merchant.ID, business.ReportRequest{Type: business.ReportPayouts,
		IntervalStart: "2026-01-01", IntervalEnd: "2026-02-01"}); err != nil {
		t.Fatal(err)
	}
	return []struct{ path, sel, name string }{
		{"/console/finance", "#balance", "owner-finance"},
		{"/console/finance/transactions", "#csv", "owner-transactions"},
		{"/console/finance/settlements", "main table", "owner-settlements"},
		{"/console/finance/settlements/" + s.ID, "#settlement-status", "owner-settlement"},
		{"/console/finance/reports", "#reports", "owner-reports"},
		{"/console/finance/invoices", "main table", "owner-invoices"},
		{"/console/finance/invoices/" + inv.ID, "#invoice-pdf", "owner-invoice"},
		{"/console/payouts", "#po-filter", "owner-payouts"},
		{"/console/payouts/" + held.ID, "#approve", "owner-payout"},
		{"/console/customers", "#cq", "owner-customers"},
		{"/console/customers/player-1", "#cp", "owner-customer"},
	}
}
