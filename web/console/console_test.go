package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/webhook"
)

// TestConsoleSessionFixation: a session token planted in the browser
// before the login (by a sibling page, a shared computer) is never the
// logged-in one: the password gets a new pending token, the code yet
// another; the planted and pending ones authenticate nothing. The
// console's cookie is not the payers' (kassa_session).
func TestConsoleSessionFixation(t *testing.T) {
	f := newFixture(t)
	ana := f.join(t, f.merchant.ID, "ana@example.com", members.Owner)
	c := f.newClient()
	u, _ := url.Parse(f.origin)
	planted := strings.Repeat("A", 43)
	c.jar.SetCookies(u, []*http.Cookie{{Name: "kassa_console", Value: planted, Path: "/"}})
	c.login(t, ana)
	var now string
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == "kassa_console" {
			now = ck.Value
		}
		if ck.Name == "kassa_session" {
			t.Errorf("the console set the payers' cookie")
		}
	}
	if now == "" || now == planted {
		t.Fatalf("session cookie after login %q (planted %q)", now, planted)
	}
	if _, _, err := f.members.Authenticate(context.Background(), planted); err == nil {
		t.Error("the planted token authenticates")
	}
	if st, _ := c.get(t, "/console/"); st != 200 {
		t.Errorf("home after login = %d", st)
	}
	// The planted token in another browser gets the login page.
	other := f.newClient()
	other.jar.SetCookies(u, []*http.Cookie{{Name: "kassa_console", Value: planted, Path: "/"}})
	if st, _ := other.get(t, "/console/"); st != http.StatusSeeOther {
		t.Errorf("planted token's home = %d", st)
	}
	// Logging out ends the session on the server, not only the cookie.
	st, _ := c.do(t, "/console/logout", nil)
	if st != http.StatusSeeOther {
		t.Fatalf("logout = %d", st)
	}
	if _, _, err := f.members.Authenticate(context.Background(), now); err == nil {
		t.Error("the session works after logging out")
	}
}

// TestConsoleCSRF: a console form without its token, with a token of
// another browser, or posted from another site changes nothing.
func TestConsoleCSRF(t *testing.T) {
	f := newFixture(t)
	ana := f.join(t, f.merchant.ID, "ana@example.com", members.Owner)
	c := f.newClient()
	c.login(t, ana)
	mallory := f.newClient()
	foreign := mallory.csrf(t, "/console/login")
	for _, tt := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{"email": {"eve@example.com"}, "role": {"owner"}}, ""},
		{"another browser's token", url.Values{"email": {"eve@example.com"}, "role": {"owner"}, "csrf": {foreign}}, ""},
		{"another site", url.Values{"email": {"eve@example.com"}, "role": {"owner"}, "csrf": {c.csrf(t, "/console/members")}}, "https://evil.example"},
	} {
		req, _ := http.NewRequest("POST", f.origin+"/console/members/invite", strings.NewReader(tt.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		} else {
			req.Header.Set("Origin", f.origin)
		}
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, resp.StatusCode)
		}
	}
	ms, _ := f.members.Members(context.Background(), f.merchant.ID)
	if len(ms) != 1 {
		t.Errorf("%d members after refused invitations", len(ms))
	}
}

// TestConsoleCrossMerchant: a member of merchant A names merchant B's
// payment, review, key and event by id: every page and action answers
// 404 as for an id that does not exist, and B's payment is untouched.
func TestConsoleCrossMerchant(t *testing.T) {
	f := newFixture(t)
	ana := f.join(t, f.merchant.ID, "ana@example.com", members.Owner)
	c := f.newClient()
	c.login(t, ana)
	f.addRule(t, f.other.ID, "hold", "amount >= 1000", risk.Review)
	theirs := f.pay(t, f.other.ID, 1500, payment.CaptureManual)
	theirRules, _ := f.risk.Rules(context.Background(), f.other.ID)
	theirRule := theirRules[0].ID
	rv, err := f.risk.ReviewByPayment(context.Background(), theirs.ID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := newKeys(f, f.other.ID)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := f.webhooks.CreateEndpoint(context.Background(), f.other.ID, webhook.EndpointParams{URL: "http://127.0.0.1:9/b", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/console/payments/" + theirs.ID, "/console/reviews/" + rv.ID, "/console/developers/endpoints/" + ep.ID} {
		if st, body := c.get(t, path); st != http.StatusNotFound || strings.Contains(body, theirs.ID+"</span>") {
			t.Errorf("GET %s = %d", path, st)
		}
	}
	for _, path := range []string{"/console/payments/" + theirs.ID + "/capture", "/console/payments/" + theirs.ID + "/cancel",
		"/console/payments/" + theirs.ID + "/refund", "/console/reviews/" + rv.ID + "/approve", "/console/reviews/" + rv.ID + "/reject",
		"/console/developers/keys/" + keys[0] + "/revoke", "/console/rules/" + theirRule + "/disable"} {
		if st, _ := c.do(t, path, nil); st != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", path, st)
		}
	}
	if st, body := c.get(t, "/console/payments?q="+theirs.ID); st != 200 || strings.Contains(body, "/console/payments/"+theirs.ID+"\"") {
		t.Errorf("search for B's payment = %d, found it", st)
	}
	p, _ := f.payments.Get(context.Background(), f.other.ID, theirs.ID)
	if p.Status != theirs.Status {
		t.Errorf("B's payment went from %s to %s", theirs.Status, p.Status)
	}
	ks, _ := newKeys(f, f.other.ID)
	if len(ks) != len(keys) {
		t.Errorf("B's keys changed")
	}
	if evs := f.auditActions(t, f.other.ID); len(evs) != 0 {
		t.Errorf("B's audit log has %d entries from A's member", len(evs))
	}
}

func newKeys(f *fixture, merchantID string) ([]string, error) {
	ks, err := f.merchants.Keys(context.Background(), merchantID)
	var out []string
	for _, k := range ks {
		if k.RevokedAt == nil {
			out = append(out, k.ID)
		}
	}
	return out, err
}

// TestConsoleRoles: every page answers 403 to a role the table refuses
// and shows no button for an action the role may not take: an analyst
// sees no keys, a developer decides no review, support captures nothing.
func TestConsoleRoles(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, f.merchant.ID, "hold", "amount >= 5000", risk.Review)
	held := f.pay(t, f.merchant.ID, 6000, payment.CaptureManual)
	authorized := f.pay(t, f.merchant.ID, 700, payment.CaptureManual)
	rv, err := f.risk.ReviewByPayment(context.Background(), held.ID)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]members.Permission{
		"/console/":                          members.ViewHome,
		"/console/payments":                  members.ViewPayments,
		"/console/payments/" + held.ID:       members.ViewPayments,
		"/console/reviews":                   members.ViewReviews,
		"/console/reviews/" + rv.ID:          members.ViewReviews,
		"/console/developers":                members.ViewDevelopers,
		"/console/members":                   members.ViewMembers,
		"/console/audit":                     members.ViewAudit,
		"/console/operator":                  members.OperatePlatform,
		"/console/payments/" + authorized.ID: members.ViewPayments,
		"/console/lists":                     members.ViewLists,
		"/console/labels":                    members.ViewLists,
		"/console/developers/requests":       members.ViewDevelopers,
		"/console/models":                    members.ViewModels,
	}
	buttons := map[members.Permission]struct{ page, marker string }{
		members.CapturePayments: {"/console/payments/" + authorized.ID, "/capture\""},
		members.CancelPayments:  {"/console/payments/" + authorized.ID, "/cancel\""},
		members.DecideReviews:   {"/console/reviews/" + rv.ID, "id=\"approve\""},
		members.ManageKeys:      {"/console/developers", "id=\"rotate\""},
		members.ManageRules:     {"/console/rules", "id=\"rule-create\""},
		members.ManageMembers:   {"/console/members", "/console/members/invite"},
		members.ManageLists:     {"/console/lists", `id="list-add"`},
		members.ManageLabels:    {"/console/labels", `id="label-form"`},
	}
	for _, role := range members.MerchantRoles {
		t.Run(string(role), func(t *testing.T) {
			m := f.join(t, f.merchant.ID, string(role)+"@example.com", role)
			c := f.newClient()
			c.login(t, m)
			for path, perm := range pages {
				st, _ := c.get(t, path)
				want := http.StatusOK
				if !role.Can(perm) {
					want = http.StatusForbidden
				}
				if path == "/console/" && st == http.StatusSeeOther {
					st = http.StatusOK
				}
				if st != want {
					t.Errorf("%s: GET %s = %d, want %d", role, path, st, want)
				}
			}
			for perm, b := range buttons {
				if !role.Can(pages[b.page]) {
					continue
				}
				_, body := c.get(t, b.page)
				if has := strings.Contains(body, b.marker); has != role.Can(perm) {
					t.Errorf("%s: button for %s on %s shown=%v", role, perm, b.page, has)
				}
			}
			if !role.Can(members.DecideReviews) {
				if st, _ := c.do(t, "/console/reviews/"+rv.ID+"/approve", nil); st != http.StatusForbidden {
					t.Errorf("%s approves a review: %d", role, st)
				}
			}
			if !role.Can(members.ManageLists) {
				if st, _ := c.do(t, "/console/lists", url.Values{"list": {"block"}, "type": {"email"}, "value": {"x@example.com"},
					"reason": {"x"}}); st != http.StatusForbidden {
					t.Errorf("%s adds a list entry: %d", role, st)
				}
			}
			if st, _ := c.do(t, "/console/models/promote", url.Values{"version": {"m"}, "confirm": {"yes"}}); st != http.StatusForbidden {
				t.Errorf("%s promotes a model: %d", role, st)
			}
			if !role.Can(members.ManageKeys) {
				if st, _ := c.do(t, "/console/developers/keys/rotate", url.Values{"grace_hours": {"1"}}); st != http.StatusForbidden {
					t.Errorf("%s rotates a key: %d", role, st)
				}
			}
		})
	}
	if c, _ := f.payments.Get(context.Background(), f.merchant.ID, held.ID); c.Risk.Review != risk.ReviewOpen {
		t.Errorf("the review was decided by a refused role: %s", c.Risk.Review)
	}
}

// TestConsoleAuditEveryAction performs every state-changing action of
// the console and finds its entry in the audit log (who, what, from
// where, before and after); a POST route missing from the table fails.
func TestConsoleAuditEveryAction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	c := f.newClient()
	c.login(t, owner)
	f.addRule(t, f.merchant.ID, "hold", "amount >= 5000", risk.Review)
	f.addRule(t, f.merchant.ID, "second", "amount >= 1000000", risk.Block)
	rs, _ := f.risk.Rules(ctx, f.merchant.ID)
	rule2 := rs[1].ID
	held1 := f.pay(t, f.merchant.ID, 6000, payment.CaptureManual)
	held2 := f.pay(t, f.merchant.ID, 7000, payment.CaptureManual)
	rv1, _ := f.risk.ReviewByPayment(ctx, held1.ID)
	rv2, _ := f.risk.ReviewByPayment(ctx, held2.ID)
	toCapture := f.pay(t, f.merchant.ID, 800, payment.CaptureManual)
	toCancel := f.pay(t, f.merchant.ID, 900, payment.CaptureManual)
	toRefund := f.pay(t, f.merchant.ID, 1000, payment.CaptureAutomatic)
	if _, err := f.webhooks.CreateEndpoint(ctx, f.merchant.ID, webhook.EndpointParams{URL: "http://127.0.0.1:9/hook",
		Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	evs, _, err := f.webhooks.Events(ctx, f.merchant.ID, "", "", 1)
	if err != nil || len(evs) == 0 {
		t.Fatalf("no event to replay: %v", err)
	}
	keys, _ := newKeys(f, f.merchant.ID)
	_, body, _ := c.post(t, "/console/members/invite", url.Values{"csrf": {c.csrf(t, "/console/members")},
		"email": {"gone@example.com"}, "role": {"support"}})
	gone := regexp.MustCompile(`/console/members/(mem_[a-z0-9]+)/remove`).FindAllStringSubmatch(body, -1)
	opc := f.newClient()
	opc.login(t, op)
	if _, err := f.risk.LockPlatform(ctx, "voucher_serial", "123456789012", "stolen batch", time.Hour); err != nil {
		t.Fatal(err)
	}
	eps, _, _ := f.webhooks.Endpoints(ctx, f.merchant.ID, "", 1)
	spare, err := f.vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: 500, Currency: "EUR", IssuedBy: f.issuer})
	if err != nil {
		t.Fatal(err)
	}
	serial := spare[0].Serial
	roleInv, err := f.members.Invite(ctx, "", f.merchant.ID, "role@example.com", members.Support)
	if err != nil {
		t.Fatal(err)
	}
	f.uploadModel(t, "m-one")
	f.uploadModel(t, "m-two")
	if err := f.risk.SetModelStatus(ctx, "m-one", risk.ModelActive); err != nil {
		t.Fatal(err)
	}
	// Finance: two held payouts out of a balance (finance_test.go).
	f.pay(t, f.merchant.ID, 4000, payment.CaptureAutomatic)
	po1, po2 := f.payout(t, f.merchant.ID, 2000), f.payout(t, f.merchant.ID, 1500)
	draft := f.draftInvoice(t, f.merchant.ID)

	tests := []struct {
		route, path string
		as          *client
		form        url.Values
		org, action string
		target      string
	}{
		{"POST /console/payments/{id}/capture", "/console/payments/" + toCapture.ID + "/capture", c, nil, f.merchant.ID, "payment.capture", toCapture.ID},
		{"POST /console/payments/{id}/cancel", "/console/payments/" + toCancel.ID + "/cancel", c, nil, f.merchant.ID, "payment.cancel", toCancel.ID},
		{"POST /console/payments/{id}/refund", "/console/payments/" + toRefund.ID + "/refund", c, url.Values{"amount": {"250"}}, f.merchant.ID, "payment.refund", toRefund.ID},
		{"POST /console/reviews/{id}/approve", "/console/reviews/" + rv1.ID + "/approve", c, url.Values{"note": {"known player"}}, f.merchant.ID, "review.approve", rv1.ID},
		{"POST /console/reviews/{id}/reject", "/console/reviews/" + rv2.ID + "/reject", c, nil, f.merchant.ID, "review.reject", rv2.ID},
		{"POST /console/developers/keys/rotate", "/console/developers/keys/rotate", c, url.Values{"grace_hours": {"2"}}, f.merchant.ID, "api_key.rotate", ""},
		{"POST /console/developers/keys/{id}/revoke", "/console/developers/keys/" + keys[1] + "/revoke", c, nil, f.merchant.ID, "api_key.revoke", keys[1]},
		{"POST /console/developers/events/{id}/replay", "/console/developers/events/" + evs[0].ID + "/replay", c, url.Values{"endpoint": {eps[0].ID}}, f.merchant.ID, "webhook.replay", evs[0].ID},
		{"POST /console/members/invite", "/console/members/invite", c, url.Values{"email": {"new@example.com"}, "role": {"analyst"}}, f.merchant.ID, "member.invite", ""},
		{"POST /console/members/{id}/remove", "/console/members/" + gone[len(gone)-1][1] + "/remove", c, nil, f.merchant.ID, "member.remove", gone[len(gone)-1][1]},
		{"POST /console/operator/merchants", "/console/operator/merchants", opc, url.Values{"name": {"Third Shop"}}, members.Platform, "merchant.create", ""},
		{"POST /console/operator/locks/lift", "/console/operator/locks/lift", opc, url.Values{"type": {"voucher_serial"}, "value": {"123456789012"}}, members.Platform, "risk_lock.lift", "voucher_serial:123456789012"},
		{"POST /console/rules", "/console/rules", c, url.Values{"name": {"big"}, "expression": {"amount > 100000"}, "action": {"block"}}, f.merchant.ID, "risk_rule.create", ""},
		{"POST /console/rules/{id}/{op}", "/console/rules/" + rule2 + "/disable", c, nil, f.merchant.ID, "risk_rule.disable", rule2},
		{"POST /console/rules/{id}/{op}", "/console/rules/" + rule2 + "/enable", c, nil, f.merchant.ID, "risk_rule.enable", rule2},
		{"POST /console/rules/{id}/{op}", "/console/rules/" + rule2 + "/up", c, nil, f.merchant.ID, "risk_rule.up", rule2},
		{"POST /console/rules/{id}/{op}", "/console/rules/" + rule2 + "/down", c, nil, f.merchant.ID, "risk_rule.down", rule2},
		{"POST /console/operator/vouchers", "/console/operator/vouchers", opc, url.Values{"issuer": {f.issuer}, "count": {"3"}, "amount": {"2000"}, "currency": {"eur"}}, members.Platform, "voucher.issue", f.issuer},
		{"POST /console/operator/vouchers/invalidate", "/console/operator/vouchers/invalidate", opc, url.Values{"issuer": {f.issuer}, "serial": {serial}}, members.Platform, "voucher.invalidate", serial},
		{"POST /console/lists", "/console/lists", c, url.Values{"list": {"block"}, "type": {"email"}, "value": {"mule@example.com"}, "reason": {"mule"}}, f.merchant.ID, "risk_list.add", "block:email:mule@example.com"},
		{"POST /console/lists/remove", "/console/lists/remove", c, url.Values{"list": {"block"}, "type": {"email"}, "value": {"mule@example.com"}, "reason": {"cleared"}}, f.merchant.ID, "risk_list.remove", "block:email:mule@example.com"},
		{"POST /console/labels", "/console/labels", c, url.Values{"payment": {toCapture.ID}, "label": {"legit"}}, f.merchant.ID, "risk_label.set", toCapture.ID},
		{"POST /console/labels/undo", "/console/labels/undo", c, url.Values{"payment": {toCapture.ID}}, f.merchant.ID, "risk_label.undo", toCapture.ID},
		{"POST /console/models/{op}", "/console/models/shadow", opc, url.Values{"version": {"m-two"}, "confirm": {"yes"}}, members.Platform, "risk_model.shadow", "m-two"},
		{"POST /console/models/{op}", "/console/models/promote", opc, url.Values{"version": {"m-two"}, "confirm": {"yes"}}, members.Platform, "risk_model.promote", "m-two"},
		{"POST /console/models/{op}", "/console/models/rollback", opc, url.Values{"confirm": {"yes"}}, members.Platform, "risk_model.rollback", "m-one"},
		{"POST /console/operator/locks", "/console/operator/locks", opc, url.Values{"type": {"email"}, "value": {"fraudster@example.com"}, "hours": {"24"}, "reason": {"ring"}}, members.Platform, "risk_lock.add", "email:fraudster@example.com"},
		{"POST /console/members/{id}/role", "/console/members/" + roleInv.Member.ID + "/role", c, url.Values{"role": {"finance"}}, f.merchant.ID, "member.role", roleInv.Member.ID},
		{"POST /console/operator/merchants/{id}/suspend", "/console/operator/merchants/" + f.other.ID + "/suspend", opc, url.Values{"reason": {"under investigation"}}, members.Platform, "merchant.suspend", f.other.ID},
		{"POST /console/operator/merchants/{id}/unsuspend", "/console/operator/merchants/" + f.other.ID + "/unsuspend", opc, nil, members.Platform, "merchant.unsuspend", f.other.ID},
		{"POST /console/finance/reports", "/console/finance/reports", c, url.Values{"type": {"payments"}, "from": {"2026-01-01"}, "to": {"2026-01-31"}}, f.merchant.ID, "report.create", ""},
		{"POST /console/finance/invoices", "/console/finance/invoices", c, url.Values{"customer_id": {"club-1"}, "name": {"Club"}, "email": {"club@example.com"}, "line1": {"Hauptstr. 1"}, "city": {"Berlin"}, "country": {"DE"}, "currency": {"EUR"}, "due_days": {"7"}, "description1": {"Rent"}, "quantity1": {"1"}, "unit1": {"1000"}, "rate1": {"19"}}, f.merchant.ID, "invoice.create", ""},
		{"POST /console/finance/invoices/{id}/finalize", "/console/finance/invoices/" + draft.ID + "/finalize", c, nil, f.merchant.ID, "invoice.finalize", draft.ID},
		{"POST /console/payouts/{id}/approve", "/console/payouts/" + po1.ID + "/approve", c, url.Values{"reason": {"known payee"}}, f.merchant.ID, "payout.approve", po1.ID},
		{"POST /console/payouts/{id}/reject", "/console/payouts/" + po2.ID + "/reject", c, url.Values{"reason": {"name mismatch"}}, f.merchant.ID, "payout.reject", po2.ID},
		{"POST /console/login/code", "", nil, nil, f.merchant.ID, "member.login", owner.ID},
		{"POST /console/invite", "", nil, nil, f.merchant.ID, "member.accept", owner.ID},
	}
	// The login and logout change nothing but the browser's session (the
	// code's login is audited below); a rule check only reads.
	covered := map[string]bool{"POST /console/login": true, "POST /console/logout": true, "POST /console/rules/check": true}
	for _, tt := range tests {
		covered[tt.route] = true
		if tt.as != nil {
			st, body := tt.as.do(t, tt.path, tt.form)
			if st != http.StatusOK {
				t.Errorf("%s = %d\n%s", tt.path, st, body)
				continue
			}
		}
		var found bool
		for _, e := range f.auditActions(t, tt.org) {
			if e.Action == tt.action && (tt.target == "" || e.Target == tt.target) &&
				e.Actor.Kind == "member" && e.Actor.ID != "" && e.Actor.IP != "" && e.Actor.Name != "" {
				found = true
				if strings.HasPrefix(tt.action, "payment.") && (len(e.Before) == 0 || len(e.After) == 0) {
					t.Errorf("%s: no before/after", tt.action)
				}
			}
		}
		if !found {
			t.Errorf("%s: no audit entry %s on %q by a member from an address", tt.route, tt.action, tt.target)
		}
	}
	for _, r := range f.pages.Routes() {
		if strings.HasPrefix(r, "POST ") && !covered[r] {
			t.Errorf("state-changing route %s is not in the audit table", r)
		}
	}
	// The operator reads every organisation's entries; a merchant's owner
	// only the merchant's.
	if _, body := opc.get(t, "/console/audit?action=payment."); !strings.Contains(body, toCapture.ID) {
		t.Error("the operator does not see the merchant's entries")
	}
	if _, body := c.get(t, "/console/audit"); strings.Contains(body, "merchant.create") || strings.Contains(body, "risk_lock.lift") {
		t.Error("a merchant's owner sees the platform's entries")
	}
	// The issued PINs are on the page once, never in the audit log.
	for _, e := range f.auditActions(t, members.Platform) {
		if e.Action == "voucher.issue" && regexp.MustCompile(`\d{16}`).Match(e.After) {
			t.Errorf("a PIN in the audit log: %s", e.After)
		}
	}
	// No secret in the log: the new key's secret is shown once, never kept.
	for _, e := range f.auditActions(t, f.merchant.ID) {
		if strings.Contains(string(e.After), "sk_") && !strings.Contains(string(e.After), "...") {
			t.Errorf("a secret key in the audit log: %s", e.After)
		}
	}
}

// TestConsoleRefundStepUp: a refund of 500.00 or more needs a fresh
// authenticator code besides the session; a wrong or reused code refunds
// nothing; smaller refunds need the role only.
func TestConsoleRefundStepUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fin := f.join(t, f.merchant.ID, "fin@example.com", members.Finance)
	c := f.newClient()
	c.login(t, fin)
	p := f.pay(t, f.merchant.ID, 90000, payment.CaptureAutomatic)
	if p.Status != payment.StatusCaptured {
		t.Fatalf("payment %s", p.Status)
	}
	path := "/console/payments/" + p.ID + "/refund"
	if _, body := c.get(t, "/console/payments/"+p.ID); !strings.Contains(body, `id="refund-code"`) {
		t.Error("no code field on the refund form of a large payment")
	}
	for _, code := range []string{"", "000000"} {
		if st, body := c.do(t, path, url.Values{"amount": {"60000"}, "code": {code}}); st != http.StatusBadRequest ||
			!strings.Contains(body, "fresh code") {
			t.Errorf("code %q: %d", code, st)
		}
	}
	f.clock.Advance(members.SessionIdle / 10)
	code := f.code(t, fin.secret)
	if st, body := c.do(t, path, url.Values{"amount": {"60000"}, "code": {code}}); st != http.StatusOK {
		t.Fatalf("with a code: %d\n%s", st, body)
	}
	if st, _ := c.do(t, path, url.Values{"amount": {"50000"}, "code": {code}}); st != http.StatusBadRequest {
		t.Errorf("the same code again: %d", st)
	}
	// A small refund, its form sent twice: one refund.
	_, page := c.get(t, "/console/payments/"+p.ID)
	rid := regexp.MustCompile(`name="request" value="([^"]+)"`).FindStringSubmatch(page)
	if rid == nil {
		t.Fatal("no request id on the refund form")
	}
	for range 2 {
		if st, _ := c.do(t, path, url.Values{"amount": {"1000"}, "request": {rid[1]}}); st != http.StatusOK {
			t.Errorf("a small refund: %d", st)
		}
	}
	got, _ := f.payments.Get(ctx, f.merchant.ID, p.ID)
	if got.AmountRefunded != 61000 {
		t.Errorf("refunded %d, want 61000", got.AmountRefunded)
	}
}

// TestConsolePaymentSearch: a support agent finds payments by id,
// merchant reference, customer email, voucher serial and dates; never
// another merchant's, whatever the query.
func TestConsolePaymentSearch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sup := f.join(t, f.merchant.ID, "support@example.com", members.Support)
	c := f.newClient()
	c.login(t, sup)
	mk := func(merchantID, ref, email string) payment.Payment {
		p, err := f.payments.Create(ctx, merchantID, payment.CreateRequest{Amount: 500, Currency: "EUR", Description: "Deposit",
			MerchantReference: ref, Customer: payment.Customer{Email: email}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := mk(f.merchant.ID, "order-1", "Zoe@Example.com")
	b := mk(f.merchant.ID, "order-2", "max@example.com")
	theirs := mk(f.other.ID, "order-1", "zoe@example.com")
	paid := f.pay(t, f.merchant.ID, 800, payment.CaptureAutomatic)
	serial := paid.Vouchers[0].Serial
	today := time.Now().UTC().Format("2006-01-02")
	for _, tt := range []struct {
		query     string
		want, not []string
	}{
		{"q=" + a.ID, []string{a.ID}, []string{b.ID}},
		{"q=order-1", []string{a.ID}, []string{b.ID, theirs.ID}},
		{"q=zoe%40example.com", []string{a.ID}, []string{b.ID, theirs.ID}},
		{"q=" + serial, []string{paid.ID}, []string{a.ID}},
		{"q=" + theirs.ID, nil, []string{theirs.ID}},
		{"from=" + today + "&to=" + today, []string{a.ID, b.ID, paid.ID}, []string{theirs.ID}},
		{"from=2020-01-01&to=2020-01-02", nil, []string{a.ID, b.ID}},
		{"status=captured", []string{paid.ID}, []string{a.ID}},
	} {
		st, body := c.get(t, "/console/payments?"+tt.query)
		if st != 200 {
			t.Fatalf("%s = %d", tt.query, st)
		}
		for _, id := range tt.want {
			if !strings.Contains(body, `href="/console/payments/`+id+`"`) {
				t.Errorf("%s: %s not found", tt.query, id)
			}
		}
		for _, id := range tt.not {
			if strings.Contains(body, `href="/console/payments/`+id+`"`) {
				t.Errorf("%s: %s found", tt.query, id)
			}
		}
	}
}

// TestConsoleSimilarCases: a review case shows the merchant's earlier
// payments with the same customer email and how they ended; another
// merchant's never.
func TestConsoleSimilarCases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	an := f.join(t, f.merchant.ID, "an@example.com", members.Analyst)
	c := f.newClient()
	c.login(t, an)
	mk := func(merchantID, email string) payment.Payment {
		p, err := f.payments.Create(ctx, merchantID, payment.CreateRequest{Amount: 500, Currency: "EUR", Description: "Deposit",
			Customer: payment.Customer{Email: email}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	earlier := mk(f.merchant.ID, "sam@example.com")
	other := mk(f.merchant.ID, "kim@example.com")
	theirs := mk(f.other.ID, "sam@example.com")
	f.addRule(t, f.merchant.ID, "hold", "amount >= 5000", risk.Review)
	p, err := f.payments.Create(ctx, f.merchant.ID, payment.CreateRequest{Amount: 6000, Currency: "EUR", Description: "Deposit",
		CaptureMethod: payment.CaptureManual, Customer: payment.Customer{Email: "Sam@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.payments.Confirm(ctx, f.merchant.ID, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		PINs: []string{f.issue(t, 6000)}, ClientIP: "198.51.100.20", SecretKey: true}); err != nil {
		t.Fatal(err)
	}
	rv, err := f.risk.ReviewByPayment(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, body := c.get(t, "/console/reviews/"+rv.ID)
	if st != 200 {
		t.Fatalf("case = %d", st)
	}
	i := strings.Index(body, `id="sc"`)
	if i < 0 {
		t.Fatal("no similar cases section")
	}
	section := body[i:]
	if !strings.Contains(section, earlier.ID) || strings.Contains(section, other.ID) || strings.Contains(body, theirs.ID) {
		t.Errorf("similar cases: earlier %v, other %v, theirs %v", strings.Contains(section, earlier.ID),
			strings.Contains(section, other.ID), strings.Contains(body, theirs.ID))
	}
}
