package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/identity"
)

// TestLimitsOnAccountPage: a payer sets a daily limit (at once), raises
// it (pending for 7 days), is refused an exclusion without confirming it,
// excludes themself for a year and cannot shorten it; a forged form
// changes nothing.
func TestLimitsOnAccountPage(t *testing.T) {
	f := newFixture(t)
	res := f.signUp(t, "gina@example.com", "+4915112349901")
	v := f.visitor(t)
	v.setSession(res)
	v.wantPage("account page", v.get("/account"), 200, `id="limits"`, "Gambling limits")
	v.wantPage("set a daily limit", v.follow(v.post("/account/limits", url.Values{"what": {"deposit"}, "limit_day": {"50"}})), 200,
		"Your gambling limits were saved.", `name="limit_day" inputmode="decimal" autocomplete="off" value="50.00"`)
	v.wantPage("raise it", v.follow(v.post("/account/limits", url.Values{"what": {"deposit"}, "limit_day": {"100"}})), 200,
		`value="50.00"`, "100.00 EUR from ")
	v.wantPage("bad amount", v.post("/account/limits", url.Values{"what": {"deposit"}, "limit_day": {"-3"}}), 422,
		"Enter each limit as an amount in the currency shown")
	v.wantPage("exclusion unconfirmed", v.post("/account/limits", url.Values{"what": {"exclude"}, "period": {"1y"}}), 422,
		"Tick the box")
	if strings.Contains(v.body, "You are excluded") {
		t.Fatal("an unconfirmed exclusion took effect")
	}
	v.wantPage("exclude for a year", v.follow(v.post("/account/limits", url.Values{"what": {"exclude"}, "period": {"1y"}, "confirm": {"yes"}})),
		200, "You are excluded from gambling deposits until ")
	v.wantPage("shorten it", v.post("/account/limits", url.Values{"what": {"exclude"}, "period": {"6m"}, "confirm": {"yes"}}), 422,
		"cannot be shortened or lifted before it ends")
	v.wantPage("cool-off of 2 hours", v.post("/account/limits", url.Values{"what": {"cooloff"}, "duration": {"2h"}}), 422,
		"choose one of the offered lengths")
	// Without the CSRF token nothing changes.
	if resp := v.post("/account/limits", url.Values{"what": {"deposit"}, "limit_day": {""}, "csrf": {""}}); resp.StatusCode != 403 {
		t.Errorf("forged form = %d", resp.StatusCode)
	}
	v.wantPage("after the forged form", v.get("/account"), 200, `value="50.00"`)
	// A Swede's limits are in kronor (the residence's currency).
	swede := f.signUp(t, "sigrid@example.com", "+46701234999")
	if _, err := f.identity.SubmitKYC(context.Background(), swede.Customer.ID, identity.IdentityData{GivenName: "Sigrid", FamilyName: "Berg",
		BirthDate: time.Date(1988, 2, 3, 0, 0, 0, 0, time.UTC), Address: identity.Address{Line1: "Storgatan 1", City: "Stockholm",
			PostalCode: "11122", Country: "SE"}, DocumentType: identity.DocumentIDCard, DocumentCountry: "SE", DocumentNumber: "SE9876543"}); err != nil {
		t.Fatal(err)
	}
	sv := f.visitor(t)
	sv.setSession(swede)
	sv.wantPage("a Swede's account page", sv.get("/account"), 200, "(SEK)")
	sv.wantPage("a daily limit in kronor", sv.follow(sv.post("/account/limits", url.Values{"what": {"deposit"}, "limit_day": {"500"}})), 200,
		`value="500.00"`, "(SEK)")
	if l, err := f.limits.Limits(context.Background(), compliance.Subject{CustomerID: swede.Customer.ID}); err != nil ||
		l.Deposit[compliance.Day] != (compliance.Limit{Amount: 500_00, Currency: "SEK"}) {
		t.Errorf("stored limit %+v, %v", l.Deposit, err)
	}
	// Someone not logged in is sent to log in.
	stranger := f.visitor(t)
	stranger.get("/login")
	if resp := stranger.post("/account/limits", url.Values{"what": {"exclude"}, "period": {"indefinite"}, "confirm": {"yes"}}); resp.StatusCode != 303 ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("stranger's post = %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
