package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ECompliance: the real binary writes the shipped policies into
// its data directory, takes a merchant's limits for its customer, and
// refuses the deposit that would pass them and the anonymous voucher a
// German licensee may not take, with the payer's words and the date.
func TestE2ECompliance(t *testing.T) {
	b := backends(t)[0](t)
	keys := func(country string) (sk, pk string) {
		out, err := runKassa(t, b, "merchants", "create", "--name", "Bets "+country, "--category", "gambling", "--country", country, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Secret_key, Publishable_key string }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m.Secret_key, m.Publishable_key
	}
	mtSK, mtPK := keys("MT")
	deSK, dePK := keys("DE")
	out, err := runKassa(t, b, "vouchers", "issue", "--count", "3", "--amount", "1000", "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []issuedVoucher
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v issuedVoucher
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	s := startServe(t, b, "--self-exclusion-registers", "spelpaus=test,oasis=test")
	if _, err := os.Stat(filepath.Join(b.data, "policies", "de.yaml")); err != nil {
		t.Errorf("the shipped policies were not written: %v", err)
	}
	resp, l := s.request(t, "PUT", "/v1/customers/player-1/limits", mtSK, map[string]any{
		"deposit": map[string]any{"day": map[string]any{"amount": 1500, "currency": "EUR"}}})
	mustStatus(t, resp, l, 200)
	deposit := func(sk, pk, pin string) (int, map[string]any) {
		resp, p := s.request(t, "POST", "/v1/payments", sk, map[string]any{"amount": 1000, "currency": "EUR",
			"customer": map[string]any{"id": "player-1", "billing_country": "MT"}})
		mustStatus(t, resp, p, 201)
		resp, c := s.request(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, map[string]any{
			"client_secret": p["client_secret"], "payment_method": map[string]any{"type": "voucher", "pins": []string{pin}}})
		return resp.StatusCode, c
	}
	if st, c := deposit(mtSK, mtPK, vs[0].PIN); st != 200 || c["status"] != "captured" {
		t.Fatalf("first deposit = %d %v", st, c)
	}
	st, c := deposit(mtSK, mtPK, vs[1].PIN)
	if st != 422 || c["code"] != "deposit_limit_reached" || c["lifts_at"] == nil || !strings.Contains(c["detail"].(string), "No money was taken") {
		t.Fatalf("deposit over the limit = %d %v", st, c)
	}
	st, c = deposit(deSK, dePK, vs[2].PIN)
	if st != 422 || c["code"] != "method_not_allowed_in_jurisdiction" || !strings.Contains(c["source"].(string), "DE: ") {
		t.Fatalf("anonymous voucher at a German licensee = %d %v", st, c)
	}
	resp, l = s.request(t, "GET", "/v1/customers/player-1/limits", mtSK, nil)
	mustStatus(t, resp, l, 200)
	if used := l["used"].(map[string]any)["day"]; num(used) != 1000 {
		t.Errorf("used today = %v, want 1000", used)
	}
}
