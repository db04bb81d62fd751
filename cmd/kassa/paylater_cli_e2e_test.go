package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/payment"
)

// TestPayLaterCreditCLI: with the real binary on both backends, kassa
// credit plans lists a payer's plan (filtered by payer and status), kassa
// credit write-off ends it with a reason, recorded in the audit log under
// the platform, and refuses usage mistakes; a refund of the written-off
// purchase repays the loss; kassa ledger verify and kassa reconcile are
// clean after each step.
func TestPayLaterCreditCLI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		out, err := runKassa(t, b, "merchants", "create", "--name", "Shop", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ ID string }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if _, err := runKassa(t, b, "merchants", "pay-later", m.ID, "on"); err != nil {
			t.Fatal(err)
		}
		cus, _ := kycPayer(t, b, "paula@example.org", "+4915112345600", "Paula", "Payer", time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC))
		clean := func(step string) {
			t.Helper()
			if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
				t.Fatalf("%s: ledger verify: %v\n%s", step, err, out)
			}
			if out, err := runKassa(t, b, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
				t.Fatalf("%s: reconcile: %v\n%s", step, err, out)
			}
		}

		// The purchase, through Kassa's own services over b (the hosted
		// page's confirm for a logged-in payer).
		a := creditApp(t, b)
		if a.risk != nil {
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if err := a.risk.Start(rctx); err != nil {
				t.Fatal(err)
			}
		}
		p, err := a.payments.Create(ctx, m.ID, payment.CreateRequest{Amount: 4500, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if p, err = a.payments.Confirm(ctx, "", p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: payment.MethodPayLater,
			Plan: credit.PlanPayIn30, AcceptTerms: true, PayerID: cus, ClientIP: "192.0.2.7"}); err != nil || p.Status != payment.StatusCaptured {
			t.Fatalf("pay later purchase: %v %v", p.Status, err)
		}
		a.close()
		clean("bought")

		out, err = runKassa(t, b, "credit", "plans", "--customer", cus)
		planID := credit.PlanID(p.ID)
		if err != nil || !strings.Contains(out, planID) || !strings.Contains(out, "active") || !strings.Contains(out, "4500 EUR") {
			t.Fatalf("credit plans: %v\n%s", err, out)
		}
		if out, err := runKassa(t, b, "credit", "plans", "--status", "overdue"); err != nil || strings.Contains(out, planID) {
			t.Fatalf("credit plans --status overdue: %v\n%s", err, out)
		}
		for _, args := range [][]string{{"credit"}, {"credit", "plans", "--status", "bogus"}, {"credit", "write-off", planID},
			{"credit", "write-off", "--reason", "x"}, {"credit", "write-off", "cpl_nope", "--reason", "x"}} {
			if out, err := runKassa(t, b, args...); err == nil || strings.Contains(out+err.Error(), "panic") {
				t.Errorf("kassa %v = %q %v, want a plain error", args, out, err)
			}
		}
		out, err = runKassa(t, b, "credit", "write-off", planID, "--reason", "payer unreachable, ticket OPS-17")
		if err != nil || !strings.Contains(out, "written off: 4500 EUR") {
			t.Fatalf("write-off: %v\n%s", err, out)
		}
		out, err = runKassa(t, b, "credit", "plans", "--status", "written_off", "--json")
		var line struct {
			ID, Status, Customer string
			WrittenOff           int64 `json:"amount_written_off"`
		}
		if err != nil || json.Unmarshal([]byte(strings.TrimSpace(out)), &line) != nil || line.ID != planID ||
			line.Status != "written_off" || line.WrittenOff != 4500 || line.Customer != cus {
			t.Fatalf("plans --json after the write-off: %v\n%s", err, out)
		}
		clean("written off")

		a = creditApp(t, b)
		es, _, err := a.audit.List(ctx, audit.Filter{Org: audit.Platform, Action: "credit.write_off", Target: planID, Limit: 10})
		if err != nil || len(es) != 1 || es[0].Actor.Kind != audit.ActorCLI || !strings.Contains(string(es[0].After), "OPS-17") {
			t.Fatalf("audit of the write-off: %+v %v", es, err)
		}
		if es, _, err := a.audit.List(ctx, audit.Filter{Org: m.ID, Limit: 100}); err != nil || len(es) != 0 {
			t.Fatalf("the merchant's audit log shows the payer's write-off: %+v %v", es, err)
		}
		// The merchant refunds the purchase: the loss is repaid.
		if _, _, err := a.payments.CreateRefund(ctx, m.ID, payment.RefundRequest{Payment: p.ID}); err != nil {
			t.Fatalf("refund of a written-off purchase: %v", err)
		}
		a.close()
		clean("refunded")
	})
}

// creditApp opens Kassa's services over b's data, as an admin command does.
func creditApp(t *testing.T, b backend) *app {
	t.Helper()
	var cfg appConfig
	fs := newFlagSet("test", "", io.Discard)
	cfg.register(fs)
	if err := parseFlags(fs, b.args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
