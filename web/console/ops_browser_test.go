package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/webhook"
)

// TestConsoleBrowserOperator: in Chromium the operator reads the queue
// depths and the leased jobs, adds a platform-wide lock, suspends a
// merchant (whose key is then refused) and reads the models page.
func TestConsoleBrowserOperator(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	ctx := context.Background()
	if _, err := f.webhooks.CreateEndpoint(ctx, f.merchant.ID, webhook.EndpointParams{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	f.pay(t, f.merchant.ID, 1200, payment.CaptureAutomatic)
	f.uploadModel(t, "m-one")
	f.uploadModel(t, "m-two")
	if err := f.risk.SetModelStatus(ctx, "m-one", risk.ModelActive); err != nil {
		t.Fatal(err)
	}
	if err := f.risk.SetModelStatus(ctx, "m-two", risk.ModelShadow); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		p := f.pay(t, f.merchant.ID, money.Amount(900+100*i), payment.CaptureAutomatic)
		label := risk.LabelLegit
		if i == 0 {
			label = risk.LabelFraud
		}
		if _, err := f.risk.Label(ctx, f.merchant.ID, p.ID, label, risk.SourceAnalyst); err != nil {
			t.Fatal(err)
		}
	}
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	f.browserLogin(t, b, op, "operator")
	b.Run(chromedp.Navigate(f.origin+"/console/operator"), browser.Loaded("#queue-depths"))
	if got := text(b, "#queue-depths"); !strings.Contains(got, "Webhook deliveries due") || !strings.Contains(got, "Risk writer backlog") {
		t.Errorf("queue depths: %q", got)
	}
	b.Run(chromedp.SetValue("#lock-type", "email", chromedp.ByID),
		chromedp.SendKeys("#lock-value", "ring@example.com", chromedp.ByID),
		chromedp.SetValue("#lock-hours", "72", chromedp.ByID),
		chromedp.SendKeys("#lock-reason", "card testing ring", chromedp.ByID),
		clickTo("#lock-submit", ".notice"))
	if got := text(b, ".notice"); !strings.Contains(got, "Locked email ring@example.com") {
		t.Errorf("lock notice %q", got)
	}
	ls, _ := f.risk.PlatformLocks(ctx)
	if len(ls) != 1 || ls[0].Value != "ring@example.com" || ls[0].Expires.Sub(f.clock.Now()) < 71*time.Hour {
		t.Errorf("platform locks %+v", ls)
	}
	sel := `input[aria-label="Reason to suspend Other Shop"]`
	b.Run(chromedp.SendKeys(sel, "licence revoked", chromedp.ByQuery),
		clickTo(`button[aria-label="Suspend Other Shop"]`, ".notice"))
	shot(t, b, "operator-suspended")
	if _, err := f.merchants.Authenticate(ctx, f.other.SecretKey); err == nil {
		t.Error("the suspended merchant's key works")
	}
	if !has(b, `button[aria-label="Unsuspend Other Shop"]`) {
		t.Error("no unsuspend button")
	}
	b.Run(chromedp.Navigate(f.origin+"/console/models"), browser.Loaded("#shadow-metrics"))
	shot(t, b, "operator-models")
	b.Run(clickTo(`button[aria-label="Promote m-two"]`, "#confirm"))
	shot(t, b, "operator-models-confirm")
	if active, _ := f.risk.ActiveModel(); active != "m-one" {
		t.Errorf("promoted before the confirmation: %s", active)
	}
	b.Run(clickTo("#confirm", ".notice"))
	if active, _ := f.risk.ActiveModel(); active != "m-two" {
		t.Errorf("after the confirmation the active model is %s", active)
	}
}

// TestConsoleBrowserAnalystLists: in Chromium an analyst adds a value to
// the block list with a reason, finds it, labels a payment fraud and
// undoes a label; a developer sees the lists without a form or button.
func TestConsoleBrowserAnalystLists(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	ctx := context.Background()
	p := f.pay(t, f.merchant.ID, 1300, payment.CaptureAutomatic)
	an := f.join(t, f.merchant.ID, "analyst@example.com", members.Analyst)
	f.browserLogin(t, b, an, "analyst")
	b.Run(clickTo(`header nav a[href="/console/lists"]`, "#list-add"))
	b.Run(chromedp.SetValue("#list-type", "email", chromedp.ByID),
		chromedp.SendKeys("#list-value", "Mule@Example.com", chromedp.ByID),
		chromedp.SendKeys("#list-reason", "money mule, case 17", chromedp.ByID),
		clickTo("#list-submit", ".notice"))
	shot(t, b, "analyst-lists")
	es, _ := f.risk.ListEntries(ctx, f.merchant.ID, risk.ListBlock)
	if len(es) != 1 || es[0].Value != "mule@example.com" || es[0].Note != "money mule, case 17" {
		t.Fatalf("entries %+v", es)
	}
	b.Run(chromedp.Navigate(f.origin+"/console/lists?q=nobody"), browser.Loaded("#lq"))
	if strings.Contains(text(b, "main table"), "mule@example.com") {
		t.Error("a search for another value shows the entry")
	}
	b.Run(clickTo(`header nav a[href="/console/labels"]`, "#label-form"),
		chromedp.SendKeys("#label-payment", p.ID, chromedp.ByID),
		chromedp.SetValue("#label-label", risk.LabelFraud, chromedp.ByID),
		clickTo("#label-submit", ".notice"))
	shot(t, b, "analyst-labels")
	if !strings.Contains(text(b, "main table"), p.ID) {
		t.Error("the labelled payment is not listed")
	}
	if ev, _, _ := f.risk.Labelled(ctx, f.merchant.ID, p.Created.Add(-time.Hour), p.Created.Add(time.Hour), 100, 10); len(ev) != 1 || ev[0].Label != risk.LabelFraud {
		t.Errorf("labels %+v", ev)
	}
	b.Run(clickTo(`button[aria-label="Undo the label of `+p.ID+`"]`, ".notice"))
	if ev, _, _ := f.risk.Labelled(ctx, f.merchant.ID, p.Created.Add(-time.Hour), p.Created.Add(time.Hour), 100, 10); len(ev) != 0 {
		t.Errorf("labels after the undo %+v", ev)
	}
	// A developer reads the lists: no form, no button, no Labels form.
	dev := f.join(t, f.merchant.ID, "dev@example.com", members.Developer)
	b2 := browser.New(t)
	f.browserLogin(t, b2, dev, "developer")
	b2.Run(chromedp.Navigate(f.origin+"/console/lists"), browser.Loaded("main h1"))
	if has(b2, "#list-add") || has(b2, `form[action="/console/lists/remove"]`) {
		t.Error("a developer is offered to edit the lists")
	}
	b2.Run(chromedp.Navigate(f.origin+"/console/models"), browser.Loaded("main h1"))
	if got := text(b2, "main h1"); got != "Not for your role" || has(b2, `form[action="/console/models/promote"]`) {
		t.Errorf("a developer on the models page: %q", got)
	}
}
