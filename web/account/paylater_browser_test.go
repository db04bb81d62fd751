package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/payment"
)

// kyc gives a signed-up payer their identity data (kyc_verified).
func (f *fixture) kyc(t *testing.T, cus string) {
	t.Helper()
	_, err := f.identity.SubmitKYC(context.Background(), cus, identity.IdentityData{GivenName: "Paula", FamilyName: "Later",
		BirthDate:    time.Date(1990, 5, 1, 0, 0, 0, 0, time.UTC),
		Address:      identity.Address{Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"},
		DocumentType: identity.DocumentIDCard, DocumentCountry: "DE", DocumentNumber: "L01X00T47"})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBrowserPayLater: a KYC-verified payer opens the payment page in
// Chromium, sees both plans with their schedule, no interest and no late
// fee, must tick the terms, pays 90.00 in three parts (30.00 from the
// balance today), and finds the plan on the account page with its due
// dates; pays the second part there early. axe-core checks both pages.
func TestBrowserPayLater(t *testing.T) {
	f := newFixture(t)
	f.allowAutomatedBrowser(t)
	ctx := context.Background()
	if err := f.payLater.SetMerchantEnabled(ctx, f.merchant.ID, true); err != nil {
		t.Fatal(err)
	}
	shop := browser.NewShop(t)
	res := f.signUp(t, "paula@example.com", "+4915112340077")
	cus := res.Session.CustomerID
	f.kyc(t, cus)
	f.credit(t, cus, 6000, "EUR")
	p := f.createPayment(t, 9000, shop.URL+"/done?order=7")

	b := browser.New(t)
	f.setCookie(b, "kassa_session", res.Token)
	f.setCookie(b, "kassa_device", res.DeviceToken)
	b.Run(
		chromedp.Navigate(f.origin+"/pay/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret)),
		browser.Loaded("#submit-paylater"),
	)
	b.Snap("paylater-form")
	sched := text(b, "#schedule-pay_in_3")
	if strings.Count(sched, "€30.00") != 3 || !strings.Contains(sched, "Today") {
		t.Fatalf("pay_in_3 schedule shown: %q", sched)
	}
	if s := text(b, "#schedule-pay_in_30"); !strings.Contains(s, "€90.00") {
		t.Fatalf("pay_in_30 schedule shown: %q", s)
	}
	if s := text(b, "#paylater-terms"); !strings.Contains(s, "No interest") || !strings.Contains(s, "No late fees") {
		t.Fatalf("terms shown: %q", s)
	}
	if vs := b.Axe("payment page with pay later"); len(vs) > 0 {
		t.Errorf("axe-core on the payment page: %+v", vs)
	}
	// Without the box ticked the browser does not send the form (the
	// field is required); the server refuses it too (TestPayLater* in
	// package payment).
	b.Run(chromedp.Click("#plan-pay_in_3", chromedp.ByQuery), chromedp.Click("#accept-terms", chromedp.ByQuery),
		clickTo("#submit-paylater", "#thanks"))
	if q := shop.Got(); q.Get("payment_id") != p.ID || q.Get("status") != "captured" {
		t.Errorf("landed on the shop with %v", q)
	}
	got := f.payment(t, p.ID)
	if got.Status != payment.StatusCaptured || got.MethodType != payment.MethodPayLater || payment.PayLaterPlan(got) != credit.PlanPayIn3 {
		t.Fatalf("payment %s %s %s", got.Status, got.MethodType, got.MethodRef)
	}
	plan, err := f.payLater.PlanByPayment(ctx, p.ID)
	if err != nil || plan.Terms.AcceptedAt.IsZero() || plan.Owed() != 6000 {
		t.Fatalf("plan %+v %v", plan, err)
	}

	b.Run(chromedp.Navigate(f.origin+"/account"), browser.Loaded("#paylater"))
	b.Snap("paylater-account")
	rows := text(b, "#plan-"+plan.ID+"-instalments")
	if strings.Count(rows, "€30.00") != 3 || !strings.Contains(rows, "paid") || !strings.Contains(rows, "scheduled") ||
		!strings.Contains(rows, plan.Instalments[1].Due.Format("2006")) {
		t.Fatalf("instalments on the account page: %q", rows)
	}
	if s := text(b, "#paylater-limit"); !strings.Contains(s, "€200.00") {
		t.Fatalf("limit shown: %q", s)
	}
	if vs := b.Axe("account page with a plan"); len(vs) > 0 {
		t.Errorf("axe-core on the account page: %+v", vs)
	}
	b.Run(clickTo(`form[action="/account/plans/`+plan.ID+`/2/pay"] button`, "#paylater"))
	if plan, _ = f.payLater.PlanByPayment(ctx, p.ID); plan.Instalments[1].Status != credit.InstalmentPaid || plan.Owed() != 3000 {
		t.Fatalf("after pay now: %+v", plan.Instalments)
	}
	if avail, _ := f.payments.WalletAvailable(ctx, cus, "EUR"); avail != 0 {
		t.Fatalf("wallet after two parts: %d", avail)
	}
	if s := text(b, "#wallet-EUR-history"); !strings.Contains(s, "Pay later, part 2") {
		t.Fatalf("the balance's history does not name the part paid: %q", s)
	}
}
