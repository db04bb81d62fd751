package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestPayLaterE2EBinary: the real binary over TLS on both backends. A
// KYC-verified payer tops up their balance with a voucher on the account
// page, buys with pay_in_3 on the merchant's hosted page (the terms shown
// and accepted; the first third from the balance), moves the plan to a
// card on the account page; the merchant's API shows the method and the
// plan, nothing of the payer's credit. kassa serve has no injected clock,
// so after it stops the collection job runs over the same data on a test
// clock 30 days on and takes the second third from the card through the
// test acquirer. kassa ledger verify and kassa reconcile are clean after
// each step.
func TestPayLaterE2EBinary(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		out, err := runKassa(t, b, "merchants", "create", "--name", "Shop", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ ID, Secret_key string }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if _, err := runKassa(t, b, "merchants", "pay-later", m.ID, "on"); err != nil {
			t.Fatal(err)
		}
		out, err = runKassa(t, b, "vouchers", "issue", "--count", "1", "--amount", "1000", "--currency", "EUR", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var v issuedVoucher
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &v); err != nil {
			t.Fatal(err)
		}
		clean := func(step string) {
			t.Helper()
			if out, err := runKassa(t, b, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
				t.Fatalf("%s: reconcile: %v %s", step, err, out)
			}
			if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
				t.Fatalf("%s: ledger verify: %v %s", step, err, out)
			}
		}
		cus, login := kycPayer(t, b, "lena@example.com", "+436641234599", "Lena", "Later", time.Date(1988, 3, 4, 0, 0, 0, 0, time.UTC))
		s := startServe(t, b, "--rate-limit", "0")
		if !strings.HasPrefix(s.base, "https://") {
			t.Fatalf("serve is not on TLS: %s", s.base)
		}
		pc := newPayerClient(t, s, login)

		// 10.00 on the balance: a top-up paid with the voucher.
		pc.get("/account")
		loc := pc.post("/account/topup", url.Values{"amount": {"10.00"}, "currency": {"EUR"}})
		u, _ := url.Parse(loc)
		pc.get(loc)
		pc.post(u.Path, url.Values{"client_secret": {u.Query().Get("client_secret")}, "pin": {v.PIN}})
		clean("topped up")

		// pay_in_3 of 30.00 on the hosted page.
		p := s.call(t, "POST", "/v1/payments", m.Secret_key, "", map[string]any{"amount": 3000, "currency": "EUR",
			"return_url": "https://shop.example/done"}, 201)
		pid, secret := p["id"].(string), p["client_secret"].(string)
		pc.get("/pay/" + pid + "?client_secret=" + url.QueryEscape(secret))
		for _, want := range []string{`id="pay-later"`, "No interest", "€10.00"} {
			if !strings.Contains(pc.body, want) {
				t.Fatalf("the checkout has no %q:\n%s", want, pc.body)
			}
		}
		if back := pc.post("/pay/"+pid, url.Values{"client_secret": {secret}, "method": {"pay_later"}, "plan": {"pay_in_3"},
			"accept_terms": {"yes"}}); !strings.HasPrefix(back, "https://shop.example/done") {
			t.Fatalf("pay later went to %q\n%s", back, pc.body)
		}
		got := s.call(t, "GET", "/v1/payments/"+pid, m.Secret_key, "", nil, 200)
		pm, _ := got["payment_method"].(map[string]any)
		if got["status"] != "captured" || pm["type"] != "pay_later" || pm["plan"] != "pay_in_3" {
			t.Fatalf("the merchant's view: %v", got)
		}
		if raw := mustJSON(t, got); strings.Contains(raw, "limit") || strings.Contains(raw, "owed") || strings.Contains(raw, "credit:") {
			t.Fatalf("the merchant sees the payer's credit: %s", raw)
		}
		clean("bought")

		// The account page lists the plan; the payer moves it to a card.
		planID := credit.PlanID(pid)
		pc.get("/account")
		if !strings.Contains(pc.body, `id="plan-`+planID+`-instalments"`) || !strings.Contains(pc.body, "from your Kassa balance") {
			t.Fatalf("the account page has no plan:\n%s", pc.body)
		}
		exp := time.Now().AddDate(2, 0, 0).Format("01/06")
		if done := pc.post("/account/plans/"+planID+"/card", url.Values{"card_number": {acquirer.CardApproved},
			"card_expiry": {exp}, "card_cvc": {"123"}, "consent": {"yes"}}); !strings.Contains(done, "done=plan_funding") {
			t.Fatalf("the card form went to %q\n%s", done, pc.body)
		}
		pc.get("/account")
		if !strings.Contains(pc.body, "card ending 4242") || strings.Contains(pc.body, acquirer.CardApproved) {
			t.Fatalf("the account page after the card:\n%s", pc.body)
		}
		if err := s.stop(t, os.Interrupt); err != nil {
			t.Fatalf("serve stopped: %v", err)
		}
		clean("card chosen")

		// Thirty days on: the collection job over the same data.
		a := creditApp(t, b)
		clk := testclock.New(time.Now().Add(30*24*time.Hour + time.Hour))
		cs, err := credit.New(credit.Config{Store: sqlstore.NewCredit(a.db), Ledger: a.ledger, Customers: a.identity,
			Merchants: a.merchants, Notifier: a.notifier, IDs: id.Generator{}, Vault: a.vault, Acquirer: acquirer.NewTest(),
			Clock: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := cs.Collect(ctx)
		if err != nil || rep.Paid != 1 {
			t.Fatalf("day 30: %+v %v", rep, err)
		}
		plan, err := cs.PlanByPayment(ctx, pid)
		if err != nil || plan.Instalments[1].Status != credit.InstalmentPaid || plan.Owed() != 1000 || plan.CustomerID != cus {
			t.Fatalf("plan after day 30: %+v %v", plan.Instalments, err)
		}
		a.close()
		clean("collected from the card")
	})
}
