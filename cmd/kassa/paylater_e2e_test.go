package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPayLaterMerchantSwitch: kassa merchants pay-later switches pay later
// on and off; a gambling merchant cannot switch it on.
func TestPayLaterMerchantSwitch(t *testing.T) {
	b := backends(t)[0](t)
	var shop, bets struct{ ID string }
	out, err := runKassa(t, b, "merchants", "create", "--name", "Shop", "--json")
	if err != nil || json.Unmarshal([]byte(out), &shop) != nil {
		t.Fatalf("create: %q %v", out, err)
	}
	out, err = runKassa(t, b, "merchants", "create", "--name", "Bets", "--category", "gambling", "--country", "GB", "--json")
	if err != nil || json.Unmarshal([]byte(out), &bets) != nil {
		t.Fatalf("create gambling: %q %v", out, err)
	}
	if out, err := runKassa(t, b, "merchants", "pay-later", shop.ID, "on"); err != nil || !strings.Contains(out, "pay later on") {
		t.Fatalf("pay-later on: %q %v", out, err)
	}
	if out, err := runKassa(t, b, "merchants", "pay-later", shop.ID, "off"); err != nil || !strings.Contains(out, "pay later off") {
		t.Fatalf("pay-later off: %q %v", out, err)
	}
	if out, err := runKassa(t, b, "merchants", "pay-later", bets.ID, "on"); err == nil || !strings.Contains(err.Error(), "gambling") {
		t.Fatalf("a gambling merchant switched pay later on: %q %v", out, err)
	}
	for _, args := range [][]string{{shop.ID}, {shop.ID, "maybe"}, {"mer_nope", "on"}} {
		if out, err := runKassa(t, b, append([]string{"merchants", "pay-later"}, args...)...); err == nil || strings.Contains(out, "panic") {
			t.Errorf("pay-later %v = %q, want a plain error", args, out)
		}
	}
}
