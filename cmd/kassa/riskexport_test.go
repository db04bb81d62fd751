package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

// A friendly-fraud label (set in the console) is exported for training as
// fraud of the pattern friendly_fraud, the simulator's form; fraud and
// legit labels as they are.
func TestRiskExportFriendlyFraud(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
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
	for i, label := range []string{risk.LabelFriendlyFraud, risk.LabelFraud, risk.LabelLegit} {
		ev := risk.Event{Kind: risk.KindPayment, MerchantID: "mer_1", Amount: 100, Currency: "EUR", Method: risk.MethodVoucher,
			VoucherSerial: "12345678901" + string(rune('0'+i)), Time: time.Now().UTC().Add(time.Duration(i) * time.Second)}
		subject := "pay_" + label
		if _, err := eng.Evaluate(ctx, risk.Input{Event: ev, Subject: subject}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Label(ctx, "mer_1", subject, label, risk.SourceAnalyst); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	eng.Close()
	db.Close()
	out := filepath.Join(t.TempDir(), "events.jsonl")
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"risk", "export", "--data", dir, "--out", out}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d events:\n%s", len(lines), b)
	}
	for i, want := range []string{`"label":"fraud","fraud_type":"friendly_fraud"`, `"label":"fraud"`, `"label":"legit"`} {
		if !strings.Contains(lines[i], want) || (i > 0 && strings.Contains(lines[i], "friendly")) {
			t.Errorf("event %d: %s, want %s", i, lines[i], want)
		}
	}
}
