package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

// The operator lists and lifts platform-wide locks, and adds ones that
// expire; bad input gets a plain message.
func TestRiskLocksCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Real payment attempts with a voucher fail until the policy locks it
	// platform-wide.
	db, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "t", IDs: id.Generator{}})
	if err != nil {
		t.Fatal(err)
	}
	ectx, cancel := context.WithCancel(ctx)
	if err := eng.Start(ectx); err != nil {
		t.Fatal(err)
	}
	for i := range risk.DefaultPolicy.LockFailures {
		ev := risk.Event{Kind: risk.KindPayment, MerchantID: "mer_1", Amount: 100, Currency: "EUR", Method: risk.MethodVoucher,
			VoucherSerial: "123456789012", Time: time.Now().UTC().Add(time.Duration(i) * time.Second)}
		out, err := eng.Evaluate(ctx, risk.Input{Event: ev, Subject: "pay_x"}, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Outcome(ctx, "mer_1", out.ID, risk.OutcomeFailed); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	eng.Close()
	db.Close()

	kassa := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append([]string{"risk", "locks"}, append(args, "--data", dir)...), func(string) string { return "" }, &out, &errb)
		return out.String(), errb.String(), err
	}
	out, _, err := kassa("list")
	if err != nil || !strings.Contains(out, "voucher_serial  123456789012") || strings.Contains(out, "never") {
		t.Fatalf("list = %q, %v; want the voucher with an expiry", out, err)
	}
	if out, _, err := kassa("lift", "--type", "voucher_serial", "--value", "123456789012"); err != nil || !strings.Contains(out, "lifted") {
		t.Fatalf("lift = %q, %v", out, err)
	}
	if out, _, _ := kassa("list"); strings.Contains(out, "123456789012") {
		t.Errorf("lifted lock still listed: %q", out)
	}
	if out, _, err := kassa("add", "--type", "ip", "--value", "203.0.113.9", "--for", "2h", "--note", "botnet"); err != nil || !strings.Contains(out, "locked ip 203.0.113.9 until") {
		t.Errorf("add = %q, %v", out, err)
	}
	if out, _, _ := kassa("list"); !strings.Contains(out, "203.0.113.9") || !strings.Contains(out, "operator: botnet") {
		t.Errorf("list after add = %q", out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"lift", "--type", "voucher_serial", "--value", "123456789012"}, "no platform-wide lock of voucher_serial"},
		{[]string{"lift", "--type", "planet", "--value", "x"}, "type must be card_fingerprint"},
		{[]string{"lift", "--type", "ip"}, "needs --type and --value"},
		{[]string{"add", "--type", "ip", "--value", "203.0.113.10", "--for", "0s"}, "a platform-wide lock lasts more than 0"},
		{[]string{"add", "--type", "ip", "--value", "203.0.113.10", "--for", "10000h"}, "at most 2160h"},
		{[]string{"add", "--type", "ip", "--value", "not-an-ip"}, "an ip entry must be an IP address"},
		{[]string{"frobnicate"}, "unknown risk locks command"},
	} {
		_, _, err := kassa(tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "_invalid") {
			t.Errorf("risk locks %v = %v, want a plain message containing %q", tt.args, err, tt.want)
		}
	}
}
