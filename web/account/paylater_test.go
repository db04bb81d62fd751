package account_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
)

// TestPayLaterGamblingNeverOffered: a KYC-verified payer sees pay later
// at a merchant that offers it; once the merchant's category is gambling
// the payment page shows no option, the form posted anyway is refused,
// the merchant's API is refused with pay_later_not_enabled, and the
// merchant cannot switch it on again. A payer without KYC and a stranger
// never see the form either.
func TestPayLaterGamblingNeverOffered(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.payLater.SetMerchantEnabled(ctx, f.merchant.ID, true); err != nil {
		t.Fatal(err)
	}
	paula := f.signUp(t, "paula@example.com", "+4915112340078")
	f.kyc(t, paula.Session.CustomerID)
	f.credit(t, paula.Session.CustomerID, 5000, "EUR")
	nokyc := f.signUp(t, "nokyc@example.com", "+4915112340079")
	pageOf := func(p payment.Payment) string {
		return "/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	}
	const form = `id="pay-later"`

	p := f.createPayment(t, 3000, "https://shop.example/done")
	v := f.visitor(t)
	v.setSession(paula)
	v.get(pageOf(p))
	if !strings.Contains(v.body, form) || !strings.Contains(v.body, "No interest") {
		t.Fatalf("a KYC-verified payer at a shop that offers it sees no pay later form:\n%s", v.shown())
	}
	for name, who := range map[string]*visitor{"a stranger": f.visitor(t), "a payer without KYC": f.visitor(t)} {
		if name == "a payer without KYC" {
			who.setSession(nokyc)
		}
		who.get(pageOf(p))
		if strings.Contains(who.body, form) {
			t.Errorf("%s sees the pay later form", name)
		}
	}

	gambling := merchant.CategoryGambling
	if _, err := f.merchants.SetProfile(ctx, f.merchant.ID, merchant.Profile{Category: &gambling}); err != nil {
		t.Fatal(err)
	}
	g := f.createPayment(t, 3000, "https://shop.example/done")
	v.get(pageOf(g))
	if strings.Contains(v.body, form) || strings.Contains(v.body, "pay later") {
		t.Fatalf("a gambling merchant's page offers pay later:\n%s", v.shown())
	}
	st := v.post("/pay/"+g.ID, url.Values{"client_secret": {g.ClientSecret}, "method": {payment.MethodPayLater},
		"plan": {credit.PlanPayIn30}, "accept_terms": {"yes"}, "csrf": {""}}).StatusCode
	if st != http.StatusUnprocessableEntity || !strings.Contains(v.body, "not available for this purchase") {
		t.Fatalf("pay later posted at a gambling merchant = %d\n%s", st, v.shown())
	}
	// The merchant's API: the publishable key's confirm, as a shop's own
	// checkout would send it.
	api := f.visitor(t)
	req, _ := http.NewRequest("POST", f.origin+"/v1/payments/"+g.ID+"/confirm", strings.NewReader(
		`{"client_secret":"`+g.ClientSecret+`","payment_method":{"type":"pay_later"}}`))
	req.Header.Set("Authorization", "Bearer "+f.merchant.PublishableKey)
	req.Header.Set("Content-Type", "application/json")
	if resp := api.do(req); resp.StatusCode != http.StatusBadRequest || !strings.Contains(api.body, credit.CodeNotEnabled) {
		t.Fatalf("API confirm with pay_later at a gambling merchant = %d %s", resp.StatusCode, api.body)
	}
	if got := f.payment(t, g.ID); got.Status != payment.StatusRequiresAction || got.AmountCaptured != 0 {
		t.Fatalf("the refused tries changed the payment: %s", got.Status)
	}
	if err := f.payLater.SetMerchantEnabled(ctx, f.merchant.ID, true); err == nil {
		t.Fatal("a gambling merchant switched pay later on")
	}
}

// TestPayLaterCardOnAccountPage: the payer moves a plan to a card they
// type on the account page (only with the consent box ticked) and back
// to their balance; the page shows the card by brand and last four
// digits only; another payer cannot move it, and a stranger with no
// session changes nothing.
func TestPayLaterCardOnAccountPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.payLater.SetMerchantEnabled(ctx, f.merchant.ID, true); err != nil {
		t.Fatal(err)
	}
	paula := f.signUp(t, "paula@example.com", "+4915112340078")
	f.kyc(t, paula.Session.CustomerID)
	p := f.createPayment(t, 3000, "https://shop.example/done")
	if _, err := f.payments.Confirm(ctx, f.merchant.ID, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		Method: payment.MethodPayLater, Plan: credit.PlanPayIn30, AcceptTerms: true, PayerID: paula.Session.CustomerID,
		ClientIP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	plan, err := f.payLater.PlanByPayment(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	v := f.visitor(t)
	v.setSession(paula)
	v.wantPage("account", v.get("/account"), 200, `id="plan-`+plan.ID+`-funding"`, "from your Kassa balance",
		`action="/account/plans/`+plan.ID+`/card"`)
	cardForm := func(consent string) url.Values { // a new form each time: post adds the page's token
		return url.Values{"card_number": {"4242 4242 4242 4242"}, "card_expiry": {"12/31"}, "card_cvc": {"123"}, "consent": {consent}}
	}
	resp := v.post("/account/plans/"+plan.ID+"/card", cardForm(""))
	v.wantPage("no consent", resp, 422, "Tick the box")
	if strings.Contains(v.body, "4242 4242") || strings.Contains(v.body, "4242424242424242") {
		t.Fatalf("the page wrote the card number back:\n%s", v.shown())
	}
	// Another payer, and a stranger with no session.
	other := f.signUp(t, "otto@example.com", "+4915112340077")
	ov := f.visitor(t)
	ov.setSession(other)
	ov.get("/account")
	ov.wantPage("another payer", ov.post("/account/plans/"+plan.ID+"/card", cardForm("yes")), 422)
	if strings.Contains(ov.body, plan.ID) {
		t.Fatalf("another payer's page shows paula's plan:\n%s", ov.shown())
	}
	stranger := f.visitor(t)
	stranger.get("/login")
	stranger.post("/account/plans/"+plan.ID+"/card", cardForm("yes"))
	if got, _ := f.payLater.PlanByPayment(ctx, p.ID); credit.FundingOf(got).Source != credit.FundingWallet {
		t.Fatalf("someone else moved paula's plan: %+v", credit.FundingOf(got))
	}
	v.get("/account")
	resp = v.follow(v.post("/account/plans/"+plan.ID+"/card", cardForm("yes")))
	v.wantPage("card used", resp, 200, "card ending 4242", "now taken from the source shown",
		`action="/account/plans/`+plan.ID+`/wallet"`)
	if strings.Contains(v.body, "4242 4242") || strings.Contains(v.body, "4242424242424242") {
		t.Fatalf("the page shows the card number:\n%s", v.shown())
	}
	got, _ := f.payLater.PlanByPayment(ctx, p.ID)
	if fc := credit.FundingOf(got).Card; fc == nil || fc.Last4 != "4242" {
		t.Fatalf("funding after the form: %+v", credit.FundingOf(got))
	}
	if c, err := f.vault.Card(ctx, credit.CardsMerchant, credit.FundingOf(got).Card.ID); err != nil || c.CustomerID != paula.Session.CustomerID {
		t.Fatalf("the saved card %+v %v", c, err)
	}
	resp = v.follow(v.post("/account/plans/"+plan.ID+"/wallet", url.Values{}))
	v.wantPage("back to the balance", resp, 200, "from your Kassa balance")
	if got, _ := f.payLater.PlanByPayment(ctx, p.ID); credit.FundingOf(got).Source != credit.FundingWallet {
		t.Fatalf("funding after the wallet button: %+v", credit.FundingOf(got))
	}
}
