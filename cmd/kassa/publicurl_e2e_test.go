package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kassa/kassa/acquirer"
)

// TestE2EPublicURLNotHost: the links the API hands out — the payment
// page, the 3-D Secure issuer page — are built on --public-url, never on
// the request's Host header, which a caller (or anything between it and
// Kassa) chooses: a hostile Host does not make Kassa send payers to it.
func TestE2EPublicURLNotHost(t *testing.T) {
	b := backends(t)[0](t)
	sk, pk := createMerchantKeys(t, b)
	s := startServe(t, b, "--rate-limit", "0", "--public-url", "https://pay.example.test")
	hostile := func(path, key string, body any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", s.base+path, bytes.NewReader(raw))
		req.Host = "evil.example"
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("POST %s with Host evil.example = %d %s", path, resp.StatusCode, b)
		}
		return out
	}
	redirect := func(p map[string]any) string {
		na, _ := p["next_action"].(map[string]any)
		u, _ := na["redirect_url"].(string)
		return u
	}
	p := hostile("/v1/payments", sk, map[string]any{"amount": 1500, "currency": "EUR"})
	if u := redirect(p); !strings.HasPrefix(u, "https://pay.example.test/pay/"+p["id"].(string)+"?client_secret=") {
		t.Errorf("payment page link %q, want it on --public-url", u)
	}
	_, tok := s.request(t, "POST", "/v1/tokens", pk, map[string]any{"card": map[string]any{
		"number": acquirer.CardThreeDS, "exp_month": 12, "exp_year": 2040, "cvc": "123"}})
	c := hostile("/v1/payments/"+p["id"].(string)+"/confirm", pk, map[string]any{"client_secret": p["client_secret"],
		"payment_method": map[string]any{"type": "card", "token": tok["id"]}})
	if u := redirect(c); !strings.HasPrefix(u, "https://pay.example.test/3ds/3ds_") {
		t.Errorf("issuer page link %q, want it on --public-url", u)
	}
	if strings.Contains(s.stdout.String()+s.stderr.String(), "evil.example/") {
		t.Error("a link on the hostile host reached the output")
	}
}
