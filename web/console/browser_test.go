package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/webhook"
)

// screenshots makes the browser tests write the pages docs/console.md
// shows: go test ./web/console -run TestConsoleBrowser -screenshots
var screenshots = flag.Bool("screenshots", false, "write the console's screenshots to docs/console/")

// shot checks the page with axe-core (no serious or critical violation)
// and, with -screenshots, saves what the browser shows as
// docs/console/<name>.png.
func shot(t *testing.T, b *browser.Browser, name string) {
	t.Helper()
	b.Axe(name)
	if !*screenshots {
		return
	}
	var png []byte
	b.Run(chromedp.CaptureScreenshot(&png))
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "console", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// clickTo clicks sel and waits for the next page to have next.
func clickTo(sel, next string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Evaluate(`window.kassaTestOld = true`, nil),
		chromedp.Click(sel, chromedp.ByQuery),
		newPage(next),
	}
}

// newPage waits for a document that clickTo did not mark to have loaded
// with an element matching sel.
func newPage(sel string) chromedp.Action {
	js, _ := json.Marshal(sel)
	expr := `!window.kassaTestOld && document.readyState === "complete" && document.querySelector(` + string(js) + `) !== null`
	return chromedp.ActionFunc(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			var ok bool
			if err := chromedp.Evaluate(expr, &ok).Do(ctx); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for a new page with %s: %w", sel, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

func text(b *browser.Browser, sel string) string {
	var s string
	b.Run(chromedp.Text(sel, &s, chromedp.ByQuery))
	return strings.TrimSpace(s)
}

func has(b *browser.Browser, sel string) bool {
	var ok bool
	js, _ := json.Marshal(sel)
	b.Run(chromedp.Evaluate(`document.querySelector(`+string(js)+`) !== null`, &ok))
	return ok
}

// browserLogin logs m in through the pages, as a person would.
func (f *fixture) browserLogin(t *testing.T, b *browser.Browser, m member, prefix string) {
	t.Helper()
	b.Run(emulation.SetDeviceMetricsOverride(1200, 900, 1, false))
	b.Run(chromedp.Navigate(f.origin+"/console/"), browser.Loaded("#password"))
	if prefix == "owner" {
		shot(t, b, "login")
	} else {
		b.Axe(prefix + "-login")
	}
	b.Run(chromedp.SendKeys("#email", m.Email, chromedp.ByID), chromedp.SendKeys("#password", password, chromedp.ByID),
		clickTo("form button[type=submit]", "#code"))
	f.clock.Advance(members.SessionIdle / 10)
	if prefix == "owner" {
		shot(t, b, "login-code")
	} else {
		b.Axe(prefix + "-code")
	}
	b.Run(chromedp.SendKeys("#code", f.code(t, m.secret), chromedp.ByID), clickTo("main form button[type=submit]", "header nav"))
}

// TestConsoleBrowserAnalyst: an analyst works a review case end to end
// in Chromium — the queue, the case with its reasons as bars, approve
// with the keyboard (A) — and cannot see keys: no Developers link, and
// the page answers 403.
func TestConsoleBrowserAnalyst(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	f.addRule(t, f.merchant.ID, "hold large deposits", "amount >= 5000", risk.Review)
	held := f.pay(t, f.merchant.ID, 6000, payment.CaptureAutomatic)
	for i := range 3 {
		f.pay(t, f.merchant.ID, money.Amount(1000+100*i), payment.CaptureAutomatic)
	}
	analyst := f.join(t, f.merchant.ID, "analyst@example.com", members.Analyst)
	f.browserLogin(t, b, analyst, "analyst")
	shot(t, b, "analyst-home")
	if has(b, `header nav a[href="/console/developers"]`) {
		t.Error("an analyst is offered the Developers page")
	}
	b.Run(clickTo(`header nav a[href="/console/reviews"]`, "main table"))
	shot(t, b, "analyst-reviews")
	b.Run(clickTo("main table a.mono", "#case-status"))
	shot(t, b, "analyst-review")
	if got := text(b, "#case-status"); got != risk.ReviewOpen {
		t.Fatalf("case status %q", got)
	}
	// A approves: the keyboard shortcut submits the approve form.
	b.Run(chromedp.Evaluate(`window.kassaTestOld = true`, nil), chromedp.KeyEvent("a"), newPage("#case-status"))
	if got := text(b, "#case-status"); got != risk.ReviewApproved {
		t.Errorf("after A: case status %q", got)
	}
	p, _ := f.payments.Get(context.Background(), f.merchant.ID, held.ID)
	if p.Status != payment.StatusCaptured || p.Risk.Review != risk.ReviewApproved {
		t.Errorf("payment after approval: %s, review %s", p.Status, p.Risk.Review)
	}
	b.Run(chromedp.Navigate(f.origin+"/console/payments/"+held.ID), browser.Loaded("#status"))
	shot(t, b, "analyst-payment")
	// The rule editor checks on the server as the analyst types.
	b.Run(chromedp.Navigate(f.origin+"/console/rules"), browser.Loaded("#rule-expression"),
		chromedp.SendKeys("#rule-name", "very large", chromedp.ByID),
		chromedp.SendKeys("#rule-expression", "amount >", chromedp.ByID),
		chromedp.Poll(`document.getElementById("rule-check").textContent.includes("line")`, nil, chromedp.WithPollingTimeout(20*time.Second)))
	b.Run(chromedp.SendKeys("#rule-expression", " 5000", chromedp.ByID),
		chromedp.Poll(`document.getElementById("rule-check").textContent.startsWith("Compiles")`, nil, chromedp.WithPollingTimeout(20*time.Second)))
	if got := text(b, "#rule-check"); !strings.Contains(got, "matches 1 of") {
		t.Errorf("live check: %q", got)
	}
	b.Run(clickTo("#rule-backtest", "#backtest-h"))
	shot(t, b, "analyst-rules")
	b.Run(clickTo("#rule-create", ".notice"))
	rs, _ := f.risk.Rules(context.Background(), f.merchant.ID)
	if len(rs) != 2 || rs[1].Expression != "amount > 5000" {
		t.Errorf("rules after adding: %+v", rs)
	}
	b.Run(chromedp.Navigate(f.origin+"/console/developers"), browser.Loaded("main h1"))
	if got := text(b, "main h1"); got != "Not for your role" {
		t.Errorf("analyst on the developers page: %q", got)
	}
	if strings.Contains(text(b, "main"), "sk_") {
		t.Error("a key hint on the analyst's refusal")
	}
	found := false
	for _, e := range f.auditActions(t, f.merchant.ID) {
		found = found || (e.Action == "review.approve" && e.Actor.ID == analyst.ID)
	}
	if !found {
		t.Error("the approval is not in the audit log")
	}
}

// TestConsoleBrowserDeveloper: a developer rolls the secret key (the new
// one shown once, the old one working for the grace period) and sends a
// webhook event again; reviews are not theirs: no link, 403, no button.
func TestConsoleBrowserDeveloper(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	ctx := context.Background()
	f.pay(t, f.merchant.ID, 1200, payment.CaptureAutomatic)
	if _, err := f.webhooks.CreateEndpoint(ctx, f.merchant.ID, webhook.EndpointParams{URL: "http://127.0.0.1:9/hook",
		Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	f.addRule(t, f.merchant.ID, "hold", "amount >= 5000", risk.Review)
	held := f.pay(t, f.merchant.ID, 6000, payment.CaptureManual)
	rv, _ := f.risk.ReviewByPayment(ctx, held.ID)
	dev := f.join(t, f.merchant.ID, "dev@example.com", members.Developer)
	f.browserLogin(t, b, dev, "developer")
	if has(b, `header nav a[href="/console/reviews"]`) {
		t.Error("a developer is offered the Reviews page")
	}
	b.Run(clickTo(`header nav a[href="/console/developers"]`, "#rotate"))
	shot(t, b, "developer-developers")
	b.Run(chromedp.SetValue("#grace", "1", chromedp.ByID), clickTo("#rotate", "#new-secret"))
	secret := text(b, "#new-secret")
	if !strings.HasPrefix(secret, "sk_") {
		t.Fatalf("new secret %q", secret)
	}
	pr, err := f.merchants.Authenticate(ctx, secret)
	if err != nil || pr.Merchant.ID != f.merchant.ID {
		t.Errorf("the new key: %v", err)
	}
	if _, err := f.merchants.Authenticate(ctx, f.merchant.SecretKey); err != nil {
		t.Errorf("the old key within its grace: %v", err)
	}
	b.Run(chromedp.Navigate(f.origin+"/console/developers"), browser.Loaded("#rotate"))
	if strings.Contains(text(b, "main"), secret) {
		t.Error("the secret is shown again")
	}
	before, _, _ := f.webhooks.Events(ctx, f.merchant.ID, "", "", 1)
	b.Run(clickTo(`button[aria-label="Send again `+before[0].ID+`"]`, ".notice"))
	if got := text(b, ".notice"); !strings.Contains(got, "goes out again") {
		t.Errorf("replay notice %q", got)
	}
	b.Run(chromedp.Navigate(f.origin+"/console/reviews/"+rv.ID), browser.Loaded("main h1"))
	if text(b, "main h1") != "Not for your role" || has(b, "#approve") {
		t.Error("a developer reaches the review case")
	}
	var actions []string
	for _, e := range f.auditActions(t, f.merchant.ID) {
		if e.Actor.ID == dev.ID {
			actions = append(actions, e.Action)
		}
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "webhook.replay") || !strings.Contains(got, "api_key.rotate") {
		t.Errorf("developer's audit entries: %s", got)
	}
}

// TestConsoleBrowserAccessibility runs axe-core on every page of the
// console as the role that has it: an owner's pages, the operator's, the
// invitation's two steps, and the refusal a role gets.
func TestConsoleBrowserAccessibility(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	ctx := context.Background()
	f.addRule(t, f.merchant.ID, "hold", "amount >= 5000", risk.Review)
	held := f.pay(t, f.merchant.ID, 6000, payment.CaptureManual)
	rv, _ := f.risk.ReviewByPayment(ctx, held.ID)
	for i := range 5 {
		f.pay(t, f.merchant.ID, money.Amount(500+250*i), payment.CaptureAutomatic)
	}
	ep, err := f.webhooks.CreateEndpoint(ctx, f.merchant.ID, webhook.EndpointParams{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	f.pay(t, f.merchant.ID, 777, payment.CaptureAutomatic)
	if _, err := f.risk.LockPlatform(ctx, "voucher_serial", "123456789012", "stolen batch", time.Hour); err != nil {
		t.Fatal(err)
	}
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	f.browserLogin(t, b, owner, "owner")
	for _, pg := range append([]struct{ path, sel, name string }{
		{"/console/", "#backlog", "owner-home"},
		{"/console/payments", "main table", "owner-payments"},
		{"/console/payments/" + held.ID, "#status", "owner-payment"},
		{"/console/reviews", "main table", "owner-reviews"},
		{"/console/reviews/" + rv.ID, "#case-status", "owner-review"},
		{"/console/developers", "#rotate", "owner-developers"},
		{"/console/members", "#role", "owner-members"},
		{"/console/developers/endpoints/" + ep.ID, "#dl", "owner-endpoint"},
		{"/console/audit", "main table", "owner-audit"},
		{"/console/lists", "#list-add", "owner-lists"},
		{"/console/labels", "#label-form", "owner-labels"},
		{"/console/developers/requests", "#requests", "owner-requests"},
		{"/console/operator", "main h1", "owner-refused"},
	}, f.financePages(t)...) {
		b.Run(chromedp.Navigate(f.origin+pg.path), browser.Loaded(pg.sel))
		shot(t, b, pg.name)
	}
	// The invitation, as the invited person sees it.
	var inv members.Invitation
	inv, err = f.members.Invite(ctx, "", members.Platform, "ops@example.com", members.Operator)
	if err != nil {
		t.Fatal(err)
	}
	b.Run(chromedp.Navigate(inv.Link), browser.Loaded("#password2"))
	shot(t, b, "invite")
	b.Run(chromedp.SendKeys("#password", password, chromedp.ByID), chromedp.SendKeys("#password2", password, chromedp.ByID),
		clickTo("main form button[type=submit]", "#totp-secret"))
	shot(t, b, "invite-authenticator")
	secret := text(b, "#totp-secret")
	f.clock.Advance(members.SessionIdle / 10)
	b.Run(chromedp.SendKeys("#code", f.code(t, secret), chromedp.ByID), clickTo("main form button[type=submit]", "#health"))
	shot(t, b, "operator")
	b.Run(chromedp.SendKeys("#name", "Third Shop", chromedp.ByID), clickTo(`form[action="/console/operator/merchants"] button`, ".secret"))
	b.Run(chromedp.Navigate(f.origin+"/console/models"), browser.Loaded("#mr"))
	b.Axe("operator-models-empty")
	b.Run(chromedp.Navigate(f.origin+"/console/payouts"), browser.Loaded("#po-filter"))
	shot(t, b, "operator-withdrawals")
	b.Run(chromedp.Navigate(f.origin+"/console/audit"), browser.Loaded("main table"))
	shot(t, b, "operator-audit")
	if !strings.Contains(text(b, "main table"), "merchant.create") {
		t.Error("the operator's audit log lacks the merchant it made")
	}
	// Neither the invitation's token nor the authenticator's secret is
	// in the log.
	tok := linkRE.FindStringSubmatch(inv.Link)[1]
	if logs := f.logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, secret) {
		t.Error("the invitation token or the TOTP secret is in the log")
	}
}
