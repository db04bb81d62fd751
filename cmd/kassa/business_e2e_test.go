package main

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kassa/kassa/payout"
)

// TestE2EBusiness: kassa merchants pricing and settlements set a
// merchant's fee, availability delay and bank account; a voucher payment
// through kassa serve books the fee and a hold; /v1/balance shows it
// pending, /v1/balance_transactions explains it; the worker generates a
// report (report.succeeded) whose file names the ledger checkpoint;
// reconcile and ledger verify stay clean.
func TestE2EBusiness(t *testing.T) {
	b := backends(t)[0](t)
	sk, pk := createMerchantKeys(t, b)
	s := startServe(t, b, "--rate-limit", "0")
	m := s.call(t, "GET", "/v1/merchant", sk, "", nil, 200)
	mid := m["id"].(string)
	s.stop(t, syscall.SIGTERM)
	out, err := runKassa(t, b, "merchants", "pricing", mid, "--method", "voucher", "--percent-bps", "250", "--fixed", "10",
		"--availability-delay", "48h")
	if err != nil || !strings.Contains(out, "voucher") || !strings.Contains(out, "2.50%") || !strings.Contains(out, "48h0m0s") {
		t.Fatalf("merchants pricing: %v\n%s", err, out)
	}
	if out, err := runKassa(t, b, "merchants", "pricing", mid, "--method", "bitcoin", "--fixed", "1"); err == nil {
		t.Errorf("pricing of an unknown method: %s", out)
	}
	iban := payout.IBANCheckDigits("DE", "100100100000000000")
	out, err = runKassa(t, b, "merchants", "settlements", mid, "--iban", iban, "--holder", "Card Shop GmbH", "--schedule", "weekly", "--anchor", "5")
	if err != nil || !strings.Contains(out, "verified") || !strings.Contains(out, "weekly on Friday") || strings.Contains(out, iban) {
		t.Fatalf("merchants settlements: %v\n%s", err, out)
	}
	if out, err := runKassa(t, b, "merchants", "settlements", mid, "--iban", "DE00100100100000000000", "--holder", "X"); err == nil {
		t.Errorf("a bad IBAN was taken: %s", out)
	}
	out, err = runKassa(t, b, "vouchers", "issue", "--count", "1", "--amount", "10000", "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v issuedVoucher
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &v); err != nil {
		t.Fatal(err)
	}
	s = startServe(t, b, "--rate-limit", "0")
	p := s.call(t, "POST", "/v1/payments", sk, "", map[string]any{"amount": 10000, "currency": "EUR"}, 201)
	if c := s.call(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, "", map[string]any{
		"client_secret": p["client_secret"], "payment_method": map[string]any{"type": "voucher", "pins": []string{v.PIN}}}, 200); c["status"] != "captured" {
		t.Fatalf("payment: %v", c)
	}
	bal := s.call(t, "GET", "/v1/balance", sk, "", nil, 200)
	if got := mustJSON(t, bal); !strings.Contains(got, `"pending":[{"amount":9740,"currency":"EUR"}]`) ||
		!strings.Contains(got, `"available":[{"amount":0,"currency":"EUR"}]`) {
		t.Errorf("balance: %s", got)
	}
	txns := s.call(t, "GET", "/v1/balance_transactions", sk, "", nil, 200)
	data := txns["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("balance transactions: %v", txns)
	}
	x := data[0].(map[string]any)
	if x["type"] != "charge" || num(x["amount"]) != 10000 || num(x["fee"]) != 260 || num(x["net"]) != 9740 || x["source"] != p["id"] {
		t.Errorf("charge: %v", x)
	}
	// Nothing is available yet: a settlement has nothing to take.
	if st := s.call(t, "POST", "/v1/settlements", sk, "", nil, 422); st["code"] != "settlement_nothing_due" {
		t.Errorf("settlement before available_on: %v", st)
	}
	now := time.Now().UTC()
	rep := s.call(t, "POST", "/v1/reports", sk, "", map[string]any{"type": "payments", "timezone": "Europe/Vienna",
		"interval_start": now.Add(-time.Hour).Format(time.RFC3339), "interval_end": now.Add(time.Hour).Format(time.RFC3339)}, 201)
	var got map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = s.call(t, "GET", "/v1/reports/"+rep["id"].(string), sk, "", nil, 200); got["status"] != "pending" {
			break
		}
	}
	if got["status"] != "succeeded" || got["ledger_checkpoint"] == nil {
		t.Fatalf("report: %v", got)
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/reports/"+rep["id"].(string)+"/file", nil)
	req.Header.Set("Authorization", "Bearer "+sk)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(raw)
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(recs) != 2 || recs[1][0] != p["id"] || recs[1][8] != "260" ||
		resp.Header.Get("X-Ledger-Tree-Size") == "" {
		t.Errorf("report file: %d %v %q", resp.StatusCode, err, body)
	}
	s.stop(t, syscall.SIGTERM)
	if out, err := runKassa(t, b, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
		t.Errorf("reconcile: %v %s", err, out)
	}
	if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
		t.Errorf("ledger verify: %v %s", err, out)
	}
}
