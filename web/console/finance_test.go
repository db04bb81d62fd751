package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
)

// getRaw fetches path and returns the whole answer (a download).
func (c *client) getRaw(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := c.c.Get(c.f.origin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// settle gives merchantID a verified bank account and settles what is
// available.
func (f *fixture) settle(t *testing.T, merchantID string) payout.Payout {
	t.Helper()
	ctx := context.Background()
	if err := f.fin.Business.SetBankAccount(ctx, merchantID, ibanPaid, "Acme Bets & Games GmbH"); err != nil {
		t.Fatal(err)
	}
	s, err := f.fin.Business.Settle(ctx, merchantID, "Acme Bets & Games", "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// invoice makes an open (finalized) invoice of merchantID.
func (f *fixture) invoice(t *testing.T, merchantID string) invoice.Invoice {
	t.Helper()
	inv, err := f.fin.Invoices.Finalize(context.Background(), merchantID, f.draftInvoice(t, merchantID).ID)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// draftInvoice makes a draft invoice of merchantID.
func (f *fixture) draftInvoice(t *testing.T, merchantID string) invoice.Invoice {
	t.Helper()
	ctx := context.Background()
	cur := "EUR"
	lines := []invoice.Line{{Description: "Table rent", Quantity: 2, UnitAmount: 1500, TaxRate: 1900}}
	inv, err := f.fin.Invoices.Create(ctx, merchantID, invoice.Params{Currency: &cur, Lines: &lines,
		Customer: &invoice.Customer{ID: "club-7", Name: "Club Seven", Email: "club@example.com",
			Address: invoice.Address{Line1: "Hauptstr. 1", PostalCode: "10115", City: "Berlin", Country: "DE"}}})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestConsoleFinancePages: a finance member reads the balance as
// /v1/balance says it, filters balance transactions by type and date,
// downloads them as CSV, opens a settlement with its transactions, asks
// for a report and downloads it once the reports job made it, and opens
// an invoice with its PDF and the payer's link.
func TestConsoleFinancePages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, a := range []money.Amount{1200, 3400} {
		f.pay(t, f.merchant.ID, a, payment.CaptureAutomatic)
	}
	f.pay(t, f.merchant.ID, 700, payment.CaptureManual) // authorized, not captured
	s := f.settle(t, f.merchant.ID)
	later := f.pay(t, f.merchant.ID, 900, payment.CaptureAutomatic)
	inv := f.invoice(t, f.merchant.ID)
	fin := f.join(t, f.merchant.ID, "fin@example.com", members.Finance)
	c := f.newClient()
	c.login(t, fin)

	st, body := c.get(t, "/console/finance")
	if st != http.StatusOK {
		t.Fatalf("finance = %d\n%s", st, body)
	}
	// Available: 12.00 + 34.00 settled away (in flight), 9.00 since;
	// authorized: the 7.00 not captured.
	for _, want := range []string{"<th scope=\"row\">EUR</th><td class=\"num\">9.00</td>", "<td class=\"num\">7.00</td>", s.ID} {
		if !strings.Contains(body, want) {
			t.Errorf("finance page lacks %q\n%s", want, body)
		}
	}

	st, body = c.get(t, "/console/finance/transactions?type=charge")
	if st != http.StatusOK || strings.Count(body, "<td>charge</td>") != 3 || strings.Contains(body, "<td>settlement</td>") {
		t.Errorf("charges = %d, %d charge rows\n%s", st, strings.Count(body, "<td>charge</td>"), body)
	}
	_, body = c.get(t, "/console/finance/transactions?type=settlement")
	if strings.Count(body, "<td>settlement</td>") != 1 {
		t.Errorf("settlement rows: %d", strings.Count(body, "<td>settlement</td>"))
	}
	_, body = c.get(t, "/console/finance/transactions?type=charge&to=2000-01-01")
	if strings.Contains(body, "<td>charge</td>") {
		t.Error("a date filter before every transaction still lists charges")
	}

	resp, file := c.getRaw(t, "/console/finance/transactions.csv?type=charge")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV = %d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(file)).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "id" {
		t.Fatalf("CSV rows %v: %v\n%s", len(rows), err, file)
	}
	var sum int64
	for _, r := range rows[1:] {
		if r[1] != "charge" || r[5] != "EUR" {
			t.Errorf("CSV row %v", r)
		}
		n, _ := strconv.ParseInt(r[2], 10, 64)
		sum += n
	}
	if sum != 1200+3400+int64(later.Amount) {
		t.Errorf("CSV charges sum to %d", sum)
	}

	st, body = c.get(t, "/console/finance/settlements/"+s.ID)
	if st != http.StatusOK || !strings.Contains(body, "46.00 EUR") || strings.Count(body, "<td>charge</td>") != 2 {
		t.Errorf("settlement = %d\n%s", st, body)
	}

	st, body = c.do(t, "/console/finance/reports", url.Values{"type": {business.ReportPayments}, "from": {"2020-01-01"}, "to": {"2099-12-31"}, "format": {"csv"}, "timezone": {"UTC"}})
	if st != http.StatusBadRequest || !strings.Contains(body, "days") {
		t.Errorf("a report over 80 years = %d", st)
	}
	today := f.clock.Now().UTC().Format("2006-01-02")
	st, body = c.do(t, "/console/finance/reports", url.Values{"type": {business.ReportPayments}, "from": {today}, "to": {today}, "format": {"csv"}, "timezone": {"UTC"}})
	if st != http.StatusOK || !strings.Contains(body, "Asked for report") {
		t.Fatalf("report = %d\n%s", st, body)
	}
	rs, _, _ := f.fin.Business.Reports(ctx, f.merchant.ID, "", 1)
	if resp, _ := c.getRaw(t, "/console/finance/reports/"+rs[0].ID+"/file"); resp.StatusCode != http.StatusConflict {
		t.Errorf("a pending report's file = %d", resp.StatusCode)
	}
	if _, err := f.fin.Business.RunReports(ctx); err != nil { // the reports job
		t.Fatal(err)
	}
	_, body = c.get(t, "/console/finance/reports")
	if !strings.Contains(body, "/console/finance/reports/"+rs[0].ID+"/file") {
		t.Errorf("no download link on the reports page\n%s", body)
	}
	resp, file = c.getRaw(t, "/console/finance/reports/"+rs[0].ID+"/file")
	if resp.StatusCode != http.StatusOK || !strings.Contains(file, later.ID) {
		t.Errorf("report file = %d\n%s", resp.StatusCode, file)
	}
	if sum := sha256.Sum256([]byte(file)); resp.Header.Get("X-Report-SHA256") != hex.EncodeToString(sum[:]) {
		t.Errorf("report file's SHA-256 header %q", resp.Header.Get("X-Report-SHA256"))
	}

	st, body = c.get(t, "/console/finance/invoices")
	if st != http.StatusOK || !strings.Contains(body, inv.ID) {
		t.Errorf("invoices = %d", st)
	}
	st, body = c.get(t, "/console/finance/invoices/"+inv.ID)
	if st != http.StatusOK || !strings.Contains(body, "/i/"+inv.ID+"?key=") || !strings.Contains(body, "Table rent") {
		t.Errorf("invoice = %d\n%s", st, body)
	}
	resp, file = c.getRaw(t, "/console/finance/invoices/"+inv.ID+"/pdf")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(file, "%PDF-") {
		t.Errorf("invoice PDF = %d %q", resp.StatusCode, file[:min(len(file), 8)])
	}
}

// TestConsolePayoutReview: a finance member approves one held payout
// and rejects another with a reason (required); an analyst and a
// developer see neither button and get 403; a payout not in review is
// refused; both decisions are audited with the reason.
func TestConsolePayoutReview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pay(t, f.merchant.ID, 20000, payment.CaptureAutomatic)
	held1 := f.payout(t, f.merchant.ID, 2000)
	held2 := f.payout(t, f.merchant.ID, 3000)
	small := f.payout(t, f.merchant.ID, 500)
	if held1.Status != payout.StatusRequiresReview || small.Status != payout.StatusPending {
		t.Fatalf("payouts: %s, %s", held1.Status, small.Status)
	}
	for _, role := range []members.Role{members.Analyst, members.Developer, members.Support} {
		m := f.join(t, f.merchant.ID, string(role)+"@example.com", role)
		c := f.newClient()
		c.login(t, m)
		st, body := c.get(t, "/console/payouts/"+held1.ID)
		if role == members.Support {
			if st != http.StatusOK || strings.Contains(body, `id="approve"`) || strings.Contains(body, `id="reject"`) {
				t.Errorf("support on a held payout: %d, buttons shown", st)
			}
		} else if st != http.StatusForbidden || strings.Contains(body, `id="approve"`) {
			t.Errorf("%s on a held payout: %d", role, st)
		}
		if st, _ := c.do(t, "/console/payouts/"+held1.ID+"/approve", nil); st != http.StatusForbidden {
			t.Errorf("%s approves: %d", role, st)
		}
	}
	fin := f.join(t, f.merchant.ID, "fin@example.com", members.Finance)
	c := f.newClient()
	c.login(t, fin)
	st, body := c.get(t, "/console/payouts?status=requires_review")
	if st != http.StatusOK || !strings.Contains(body, held1.ID) || !strings.Contains(body, held2.ID) || strings.Contains(body, small.ID) {
		t.Errorf("payouts in review = %d\n%s", st, body)
	}
	if strings.Contains(body, ibanPaid) {
		t.Error("the list shows the whole IBAN")
	}
	_, body = c.get(t, "/console/payouts/"+held1.ID)
	if !strings.Contains(body, `id="approve"`) || !strings.Contains(body, "review") {
		t.Errorf("the held payout's page\n%s", body)
	}
	// A form without its CSRF token (a page of another site) decides
	// nothing.
	if st, _, _ := c.post(t, "/console/payouts/"+held1.ID+"/approve", url.Values{"reason": {"csrf"}}); st != http.StatusForbidden {
		t.Errorf("an approval without a CSRF token = %d", st)
	}
	if st, body := c.do(t, "/console/payouts/"+held2.ID+"/reject", nil); st != http.StatusBadRequest || !strings.Contains(body, "Say why") {
		t.Errorf("a reject without a reason = %d", st)
	}
	if st, body := c.do(t, "/console/payouts/"+held1.ID+"/approve", url.Values{"reason": {"known customer"}}); st != http.StatusOK ||
		!strings.Contains(body, "Approved") {
		t.Errorf("approve = %d\n%s", st, body)
	}
	if st, _ := c.do(t, "/console/payouts/"+held2.ID+"/reject", url.Values{"reason": {"name does not match the account"}}); st != http.StatusOK {
		t.Errorf("reject = %d", st)
	}
	if st, _ := c.do(t, "/console/payouts/"+small.ID+"/approve", nil); st != http.StatusConflict {
		t.Errorf("approving a payout not in review = %d", st)
	}
	p1, _ := f.fin.Payouts.Get(ctx, f.merchant.ID, held1.ID)
	p2, _ := f.fin.Payouts.Get(ctx, f.merchant.ID, held2.ID)
	if p1.Status != payout.StatusPending || p1.ReviewedBy != fin.ID || p2.Status != payout.StatusCanceled {
		t.Errorf("after review: %s by %s, %s", p1.Status, p1.ReviewedBy, p2.Status)
	}
	got := map[string]string{}
	for _, e := range f.auditActions(t, f.merchant.ID) {
		if strings.HasPrefix(e.Action, "payout.") && e.Actor.ID == fin.ID {
			got[e.Action+" "+e.Target] = string(e.After)
		}
	}
	if !strings.Contains(got["payout.approve "+held1.ID], "known customer") || !strings.Contains(got["payout.reject "+held2.ID], "name does not match") {
		t.Errorf("audit entries: %v", got)
	}
}

// TestConsolePayoutReviewRace: two finance members decide on one held
// payout at once, one approving, one rejecting, many times over: exactly
// one decision lands, the other is told it was too late, and only the
// decision that landed is audited.
func TestConsolePayoutReviewRace(t *testing.T) {
	f := newFixture(t)
	f.pay(t, f.merchant.ID, 50000, payment.CaptureAutomatic)
	var cs []*client
	for _, email := range []string{"a@example.com", "b@example.com"} {
		c := f.newClient()
		c.login(t, f.join(t, f.merchant.ID, email, members.Finance))
		cs = append(cs, c)
	}
	for round := range 5 {
		p := f.payout(t, f.merchant.ID, 2000)
		forms := []url.Values{{"csrf": {cs[0].csrf(t, "/console/login")}}, {"csrf": {cs[1].csrf(t, "/console/login")}, "reason": {"no"}}}
		paths := []string{"/console/payouts/" + p.ID + "/approve", "/console/payouts/" + p.ID + "/reject"}
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _, _ = cs[i].post(t, paths[i], forms[i])
			}()
		}
		wg.Wait()
		ok := 0
		for _, c := range codes {
			if c == http.StatusOK {
				ok++
			} else if c != http.StatusConflict {
				t.Errorf("round %d: %v", round, codes)
			}
		}
		n := 0
		for _, e := range f.auditActions(t, f.merchant.ID) {
			if e.Target == p.ID {
				n++
			}
		}
		if ok != 1 || n != 1 {
			t.Errorf("round %d: %d decisions landed (%v), %d audited", round, ok, codes, n)
		}
	}
}

// TestConsolePayoutStepUp: approving a payout of 500.00 or more needs a
// fresh authenticator code as well as the role; a code used once does
// not pass twice.
func TestConsolePayoutStepUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pay(t, f.merchant.ID, 100000, payment.CaptureAutomatic)
	big := f.payout(t, f.merchant.ID, 60000)
	fin := f.join(t, f.merchant.ID, "fin@example.com", members.Finance)
	c := f.newClient()
	c.login(t, fin)
	if _, body := c.get(t, "/console/payouts/"+big.ID); !strings.Contains(body, `id="approve-code"`) {
		t.Error("no code field for a large payout")
	}
	if st, body := c.do(t, "/console/payouts/"+big.ID+"/approve", nil); st != http.StatusBadRequest || !strings.Contains(body, "authenticator") {
		t.Errorf("a large approval without a code = %d", st)
	}
	if st, _ := c.do(t, "/console/payouts/"+big.ID+"/approve", url.Values{"code": {"000000"}}); st != http.StatusBadRequest {
		t.Errorf("a wrong code = %d", st)
	}
	f.clock.Advance(members.SessionIdle / 10)
	if st, body := c.do(t, "/console/payouts/"+big.ID+"/approve", url.Values{"code": {f.code(t, fin.secret)}}); st != http.StatusOK {
		t.Errorf("with a fresh code = %d\n%s", st, body)
	}
	if p, _ := f.fin.Payouts.Get(ctx, f.merchant.ID, big.ID); p.Status != payout.StatusPending {
		t.Errorf("after approval: %s", p.Status)
	}
}

// TestConsoleFinanceCrossMerchant: merchant A's finance member asks for
// B's settlement, payout, invoice and report by id and gets 404, as for
// ids that do not exist; B's payout cannot be approved; the operator
// sees payers' withdrawals, not a merchant's payouts.
func TestConsoleFinanceCrossMerchant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.vouchers.AllowIssuing(ctx, f.other.ID)
	f.pay(t, f.other.ID, 20000, payment.CaptureAutomatic)
	bPayout := f.payout(t, f.other.ID, 3000)
	f.pay(t, f.other.ID, 1000, payment.CaptureAutomatic)
	bSettlement := f.settle(t, f.other.ID)
	bInvoice := f.invoice(t, f.other.ID)
	bReport, err := f.fin.Business.CreateReport(ctx, f.other.ID, business.ReportRequest{Type: business.ReportPayments,
		IntervalStart: "2026-01-01", IntervalEnd: "2026-02-01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.fin.Business.RunReports(ctx); err != nil {
		t.Fatal(err)
	}
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	c := f.newClient()
	c.login(t, owner)
	for _, path := range []string{
		"/console/finance/settlements/" + bSettlement.ID,
		"/console/payouts/" + bPayout.ID,
		"/console/payouts/" + bSettlement.ID,
		"/console/finance/invoices/" + bInvoice.ID,
		"/console/finance/invoices/" + bInvoice.ID + "/pdf",
		"/console/finance/reports/" + bReport.ID + "/file",
	} {
		st, body := c.get(t, path)
		if st != http.StatusNotFound || strings.Contains(body, "Club Seven") || strings.Contains(body, "30.00") {
			t.Errorf("%s = %d", path, st)
		}
	}
	for _, op := range []string{"approve", "reject"} {
		if st, _ := c.do(t, "/console/payouts/"+bPayout.ID+"/"+op, url.Values{"reason": {"x"}}); st != http.StatusNotFound {
			t.Errorf("%s B's payout = %d", op, st)
		}
	}
	if p, _ := f.fin.Payouts.Get(ctx, f.other.ID, bPayout.ID); p.Status != payout.StatusRequiresReview {
		t.Errorf("B's payout is %s", p.Status)
	}
	for _, path := range []string{"/console/finance", "/console/finance/transactions", "/console/payouts", "/console/customers/player-1"} {
		if _, body := c.get(t, path); strings.Contains(body, bPayout.ID) || strings.Contains(body, bSettlement.ID) {
			t.Errorf("%s shows B's objects", path)
		}
	}
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	oc := f.newClient()
	oc.login(t, op)
	if st, body := oc.get(t, "/console/payouts"); st != http.StatusOK || !strings.Contains(body, "Withdrawals") || strings.Contains(body, bPayout.ID) {
		t.Errorf("operator's payouts = %d", st)
	}
	if st, _ := oc.get(t, "/console/payouts/"+bPayout.ID); st != http.StatusNotFound {
		t.Errorf("operator on a merchant's payout = %d", st)
	}
	if st, _ := oc.get(t, "/console/finance"); st != http.StatusForbidden {
		t.Errorf("operator on finance = %d", st)
	}
}

// TestConsoleCustomer: a support agent opens a customer's page: their
// payments and payouts at this merchant, the deposit limits in force with
// what is used, a self-exclusion; there is no form to change them. A
// stranger's id shows nothing of another merchant's.
func TestConsoleCustomer(t *testing.T) {
	f := newFixture(t)
	p := f.customerDeposit(t, "player-1", 2500)
	po := f.payout(t, f.merchant.ID, 800)
	f.limitCustomer(t, "player-1", compliance.Exclude6Months)
	sup := f.join(t, f.merchant.ID, "support@example.com", members.Support)
	c := f.newClient()
	c.login(t, sup)
	resp, _ := c.getRaw(t, "/console/customers?q=player-1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/customers/player-1" {
		t.Errorf("search = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	st, body := c.get(t, "/console/customers/player-1")
	if st != http.StatusOK {
		t.Fatalf("customer = %d\n%s", st, body)
	}
	for _, want := range []string{p.ID, po.ID, "Self-excluded", "100.00 EUR", "per day"} {
		if !strings.Contains(body, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	if strings.Contains(body, `method="post" action="/console/customers`) {
		t.Error("the customer page offers to change limits")
	}
	_, body = c.get(t, "/console/customers/player-2")
	if strings.Contains(body, p.ID) || strings.Contains(body, "Self-excluded") {
		t.Error("another customer's page shows player-1's")
	}
	// A Kassa account's pay-later plan at this merchant; another
	// merchant's support sees none of it.
	bought, cus := f.payLater(t, f.merchant.ID, "bob", 5000)
	plan, err := f.fin.Credit.PlanByPayment(context.Background(), bought.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, body = c.get(t, "/console/customers/"+cus)
	if !strings.Contains(body, plan.ID) || !strings.Contains(body, bought.ID) || !strings.Contains(body, "50.00 EUR") {
		t.Errorf("the customer's plan is not on their page\n%s", body)
	}
	bsup := f.join(t, f.other.ID, "support-b@example.com", members.Support)
	bc := f.newClient()
	bc.login(t, bsup)
	if _, body := bc.get(t, "/console/customers/"+cus); strings.Contains(body, plan.ID) || strings.Contains(body, bought.ID) {
		t.Error("another merchant's support sees the plan")
	}
	dev := f.join(t, f.merchant.ID, "dev@example.com", members.Developer)
	dc := f.newClient()
	dc.login(t, dev)
	if st, _ := dc.get(t, "/console/customers/player-1"); st != http.StatusForbidden {
		t.Errorf("developer on a customer = %d", st)
	}
}

// customerDeposit is a captured deposit of the merchant's customer.
func (f *fixture) customerDeposit(t *testing.T, customer string, amount money.Amount) payment.Payment {
	t.Helper()
	ctx := context.Background()
	p, err := f.payments.Create(ctx, f.merchant.ID, payment.CreateRequest{Amount: amount, Currency: "EUR", Description: "Deposit",
		Customer: payment.Customer{ID: customer, Email: "jane@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = f.payments.Confirm(ctx, f.merchant.ID, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		PINs: []string{f.issue(t, amount)}, ClientIP: "198.51.100.20", SecretKey: true}); err != nil {
		t.Fatal(err)
	}
	return p
}

// limitCustomer gives the merchant's customer a daily deposit limit of
// 100.00 EUR and, unless exclusion is "", a self-exclusion.
func (f *fixture) limitCustomer(t *testing.T, customer, exclusion string) {
	t.Helper()
	if _, err := f.fin.Compliance.SetLimits(context.Background(), compliance.Subject{MerchantID: f.merchant.ID, CustomerID: customer},
		compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: {Amount: 10000, Currency: "EUR"}},
			SelfExclusion: exclusion}); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleInvoiceCreate: a finance member makes a draft invoice from
// the form (a form sent twice makes one invoice), a wrong line is
// refused with the form kept, finalizing gives it its number and opens
// the payer's page; both are audited; a support agent may do neither.
func TestConsoleInvoiceCreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fin := f.join(t, f.merchant.ID, "fin@example.com", members.Finance)
	c := f.newClient()
	c.login(t, fin)
	form := url.Values{"request": {"req_form1"}, "customer_id": {"club-7"}, "name": {"Club Seven"}, "email": {"club@example.com"}, "line1": {"Hauptstr. 1"},
		"postal_code": {"10115"}, "city": {"Berlin"}, "country": {"DE"}, "currency": {"EUR"}, "due_days": {"14"}, "locale": {"de"},
		"description1": {"Table rent"}, "quantity1": {"2"}, "unit1": {"1500"}, "rate1": {"19"},
		"description2": {"Cleaning"}, "quantity2": {"1"}, "unit2": {"990"}, "rate2": {"7.5"}}
	bad := url.Values{}
	for k, x := range form {
		bad[k] = x
	}
	bad.Set("rate2", "nineteen")
	if st, body := c.do(t, "/console/finance/invoices", bad); st != http.StatusBadRequest || !strings.Contains(body, "Line 2") ||
		!strings.Contains(body, `value="Club Seven"`) {
		t.Errorf("a wrong tax rate = %d", st)
	}
	st, body := c.do(t, "/console/finance/invoices", form)
	if st != http.StatusOK || !strings.Contains(body, `id="invoice-finalize"`) {
		t.Fatalf("create = %d\n%s", st, body)
	}
	if st, _ := c.do(t, "/console/finance/invoices", form); st != http.StatusOK {
		t.Errorf("the form sent again = %d", st)
	}
	invs, _, _ := f.fin.Invoices.List(ctx, invoice.Filter{MerchantID: f.merchant.ID, Limit: 10})
	if len(invs) != 1 {
		t.Fatalf("%d invoices after the form was sent twice", len(invs))
	}
	inv := invs[0]
	// 2 × 15.00 + 19 % and 9.90 + 7.5 %: 35.70 + 10.64.
	if inv.Status != invoice.StatusDraft || inv.Total != 3570+1064 || inv.Locale != "de" {
		t.Errorf("draft: %s, total %d, %s", inv.Status, inv.Total, inv.Locale)
	}
	sup := f.join(t, f.merchant.ID, "support@example.com", members.Support)
	sc := f.newClient()
	sc.login(t, sup)
	if st, _ := sc.do(t, "/console/finance/invoices/"+inv.ID+"/finalize", nil); st != http.StatusForbidden {
		t.Errorf("support finalizes = %d", st)
	}
	if st, _ := sc.do(t, "/console/finance/invoices", form); st != http.StatusForbidden {
		t.Errorf("support creates = %d", st)
	}
	st, body = c.do(t, "/console/finance/invoices/"+inv.ID+"/finalize", nil)
	if st != http.StatusOK || !strings.Contains(body, "Finalized as") || !strings.Contains(body, `id="invoice-hosted"`) {
		t.Errorf("finalize = %d\n%s", st, body)
	}
	if st, _ := c.do(t, "/console/finance/invoices/"+inv.ID+"/finalize", nil); st != http.StatusConflict {
		t.Errorf("finalizing twice = %d", st)
	}
	var actions []string
	for _, e := range f.auditActions(t, f.merchant.ID) {
		if e.Target == inv.ID {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, ",") != "invoice.finalize,invoice.create" {
		t.Errorf("audit: %v", actions)
	}
}

// TestConsoleOperatorWithdrawals: a payer's withdrawal held for review
// is the operator's: they see it among the withdrawals and approve it
// (audited in the platform organisation); a merchant's owner does not
// reach it; an operator cannot approve a merchant's payout.
func TestConsoleOperatorWithdrawals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pay(t, f.merchant.ID, 20000, payment.CaptureAutomatic)
	w := f.withdrawal(t, f.merchant.ID, 3000)
	po := f.payout(t, f.merchant.ID, 2500)
	if w.Status != payout.StatusRequiresReview || w.MerchantID != payout.WalletMerchant {
		t.Fatalf("withdrawal: %s of %s", w.Status, w.MerchantID)
	}
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	oc := f.newClient()
	oc.login(t, op)
	if st, body := oc.get(t, "/console/payouts?status=requires_review"); st != http.StatusOK || !strings.Contains(body, w.ID) || strings.Contains(body, po.ID) {
		t.Errorf("operator's withdrawals = %d", st)
	}
	if _, body := oc.get(t, "/console/payouts/"+w.ID); !strings.Contains(body, `id="approve"`) {
		t.Error("no approve button for the operator")
	}
	if st, _ := oc.do(t, "/console/payouts/"+po.ID+"/approve", nil); st != http.StatusNotFound {
		t.Errorf("operator approves a merchant's payout = %d", st)
	}
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	c := f.newClient()
	c.login(t, owner)
	if st, _ := c.do(t, "/console/payouts/"+w.ID+"/approve", nil); st != http.StatusNotFound {
		t.Errorf("a merchant's owner approves a withdrawal = %d", st)
	}
	if st, body := oc.do(t, "/console/payouts/"+w.ID+"/approve", url.Values{"reason": {"verified payer"}}); st != http.StatusOK {
		t.Errorf("operator approves = %d\n%s", st, body)
	}
	if got, _ := f.fin.Payouts.Get(ctx, payout.WalletMerchant, w.ID); got.Status != payout.StatusPending || got.ReviewedBy != op.ID {
		t.Errorf("withdrawal after approval: %s by %s", got.Status, got.ReviewedBy)
	}
	found := false
	for _, e := range f.auditActions(t, members.Platform) {
		found = found || (e.Action == "payout.approve" && e.Target == w.ID && e.Actor.ID == op.ID)
	}
	if !found {
		t.Error("the operator's approval is not in the platform's audit log")
	}
}

// TestConsoleFinancePaging: balance transactions come 50 a page, newest
// first; "older" follows the cursor to the rest without repeating one;
// the CSV holds them all.
func TestConsoleFinancePaging(t *testing.T) {
	f := newFixture(t)
	for i := range 55 {
		f.pay(t, f.merchant.ID, money.Amount(100+i), payment.CaptureAutomatic)
	}
	fin := f.join(t, f.merchant.ID, "fin@example.com", members.Finance)
	c := f.newClient()
	c.login(t, fin)
	rowRE := regexp.MustCompile(`<td class="mono">(txn_[a-z0-9]+)</td>`)
	nextRE := regexp.MustCompile(`<a href="([^"]+)" id="older">`)
	seen := map[string]bool{}
	path, pages := "/console/finance/transactions?type=charge", 0
	for path != "" && pages < 5 {
		pages++
		st, body := c.get(t, path)
		if st != http.StatusOK {
			t.Fatalf("%s = %d", path, st)
		}
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Errorf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if pages != 2 || len(seen) != 55 {
		t.Errorf("%d pages, %d transactions", pages, len(seen))
	}
	_, file := c.getRaw(t, "/console/finance/transactions.csv")
	if n := strings.Count(file, "\n"); n != 56 {
		t.Errorf("CSV lines %d", n)
	}
}

// TestConsoleFinanceRoles: roles without finance.view get 403 on every
// finance page and no Finance link; roles without payouts.view none of
// the payouts; developers and analysts get no customer page.
func TestConsoleFinanceRoles(t *testing.T) {
	f := newFixture(t)
	finance := []string{"/console/finance", "/console/finance/transactions", "/console/finance/transactions.csv",
		"/console/finance/settlements", "/console/finance/reports", "/console/finance/invoices"}
	for _, tt := range []struct {
		role                 members.Role
		finance, payouts, cu bool
	}{
		{members.Owner, true, true, true},
		{members.Admin, true, true, true},
		{members.Finance, true, true, true},
		{members.Support, false, true, true},
		{members.Developer, false, false, false},
		{members.Analyst, false, false, false},
	} {
		m := f.join(t, f.merchant.ID, string(tt.role)+"@example.com", tt.role)
		c := f.newClient()
		c.login(t, m)
		want := func(ok bool) int {
			if ok {
				return http.StatusOK
			}
			return http.StatusForbidden
		}
		for _, p := range finance {
			if st, _ := c.get(t, p); st != want(tt.finance) {
				t.Errorf("%s on %s = %d", tt.role, p, st)
			}
		}
		if st, _ := c.get(t, "/console/payouts"); st != want(tt.payouts) {
			t.Errorf("%s on payouts = %d", tt.role, st)
		}
		if st, _ := c.get(t, "/console/customers/player-1"); st != want(tt.cu) {
			t.Errorf("%s on a customer = %d", tt.role, st)
		}
		_, home := c.get(t, "/console/")
		if strings.Contains(home, `href="/console/finance"`) != tt.finance || strings.Contains(home, `href="/console/payouts"`) != tt.payouts {
			t.Errorf("%s's links: finance %v, payouts %v", tt.role, strings.Contains(home, `href="/console/finance"`), strings.Contains(home, `href="/console/payouts"`))
		}
	}
}
