package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// Bytes that are not UTF-8, where a stranger or a merchant may put them:
// path ids, query cursors and the Idempotency-Key. SQLite stores such
// bytes; PostgreSQL refuses them (SQLSTATE 22021), so on PostgreSQL they
// must be turned away before the store, as a 4xx, never a 500.
func TestE2ENonUTF8Input(t *testing.T) { forEachBackend(t, testE2ENonUTF8Input) }

func testE2ENonUTF8Input(t *testing.T, b backend) {
	sk, pk := createMerchantKeys(t, b)
	s := startServe(t, b, "--rate-limit", "0")
	tests := []struct {
		method, path, key, idemKey, body string
	}{
		{"POST", "/v1/payments", sk, "k\xff\xfe", `{"amount":100,"currency":"EUR"}`},
		{"GET", "/v1/payments/pay_%FF", sk, "", ""},
		{"GET", "/v1/payments?starting_after=pay_%FF", sk, "", ""},
		{"POST", "/v1/payments/pay_%FF/capture", sk, "", `{}`},
		{"POST", "/v1/payments/pay_%FF/confirm", pk, "", `{"client_secret":"x","payment_method":{"type":"voucher","pins":["1234567890123456"]}}`},
		{"GET", "/v1/refunds/re_%FF", sk, "", ""},
		{"POST", "/v1/refunds", sk, "", `{"payment":"pay_\xff","amount":1}`},
		{"GET", "/v1/ledger/accounts/a%FF", sk, "", ""},
		{"GET", "/v1/ledger/transfers/t%FF", sk, "", ""},
		{"GET", "/v1/risk/rules/rule_%FF", sk, "", ""},
		{"GET", "/v1/risk/evaluations/rev_%FF", sk, "", ""},
		{"GET", "/v1/reviews/rev_%FF", sk, "", ""},
		{"GET", "/v1/webhook_endpoints/we_%FF", sk, "", ""},
		{"GET", "/v1/events/evt_%FF", sk, "", ""},
		{"GET", "/v1/tokens/tok_%FF", sk, "", ""},
		{"GET", "/v1/cards/card_%FF", sk, "", ""},
		{"GET", "/pay/pay_%FF", "", "", ""},
		{"GET", "/v1/payments/pay_%00", sk, "", ""},
		{"GET", "/pay/pay_%00", "", "", ""},
		{"GET", "/pay/pay_x?client_secret=%00%FF", "", "", ""},
		{"GET", "/v1/payments?starting_after=pay_%00", sk, "", ""},
		{"POST", "/v1/payments", sk, "", `{"amount":100,"currency":"EUR","description":"a\u0000b"}`},
		{"POST", "/v1/payments", sk, "", `{"amount":100,"currency":"EUR","merchant_reference":"r\u0000"}`},
		{"POST", "/v1/payments", sk, "", `{"amount":100,"currency":"EUR","metadata":{"k":"v\u0000"}}`},
		{"POST", "/v1/payments", sk, "", `{"amount":100,"currency":"EUR","customer":{"id":"c\u0000","email":"a\u0000@b.example"}}`},
		{"POST", "/v1/ledger/accounts", sk, "", `{"id":"a\u0000","currency":"EUR"}`},
		{"POST", "/v1/ledger/transfers", sk, "", `{"transfers":[{"id":"t\u0000","debit_account_id":"a","credit_account_id":"b","amount":1,"currency":"EUR"}]}`},
		{"POST", "/v1/risk/rules", sk, "", `{"name":"n\u0000","expression":"amount > 1","action":"review"}`},
		{"POST", "/v1/risk/lists", sk, "", `{"list":"block","type":"email","value":"a\u0000@b.example"}`},
		{"POST", "/v1/risk/labels", sk, "", `{"subject":"card:\u0000","label":"fraud"}`},
		{"POST", "/v1/risk/evaluate", sk, "", `{"kind":"payment","amount":1,"currency":"EUR","email":"a\u0000@b.example","device_id":"d\u0000"}`},
		{"POST", "/v1/webhook_endpoints", sk, "", `{"url":"https://a.example.com/h","events":["*"],"description":"d\u0000"}`},
		{"POST", "/v1/signups", pk, "", `{"email":"a\u0000@b.example","phone":"+436641234567"}`},
		{"POST", "/v1/vouchers/balance", pk, "", `{"pin":"\u0000"}`},
		{"GET", "/v1/payments", "sk_\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0_" + strings.Repeat("x", 52), "", ""},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, s.base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if tt.key != "" {
			req.Header.Set("Authorization", "Bearer "+tt.key)
		}
		if tt.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if tt.idemKey != "" {
			req.Header.Set("Idempotency-Key", tt.idemKey)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s %s (Idempotency-Key %q) = %d %s, want a 4xx", tt.method, tt.path, tt.idemKey, resp.StatusCode, body)
		}
	}

	// The hosted payment page's form.
	_, p := s.request(t, "POST", "/v1/payments", sk, map[string]any{"amount": 100, "currency": "EUR"})
	payID, _ := p["id"].(string)
	for _, form := range []string{"client_secret=%00", "client_secret=%FF", "client_secret=" + url.QueryEscape(p["client_secret"].(string)) + "&pin=%00%FF1234567890123456",
		"client_secret=" + url.QueryEscape(p["client_secret"].(string)) + "&method=card&card_number=4242%004242&card_expiry=12%2F31&card_name=%00%FF"} {
		req, _ := http.NewRequest("POST", s.base+"/pay/"+payID, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("POST /pay/%s %q = %d", payID, form, resp.StatusCode)
		}
	}

	// The payer's account pages take form fields that reach the store.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: s.client.Transport, Jar: jar, Timeout: s.client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	forms := []struct {
		page, action string
		form         url.Values
	}{
		{"/login", "/login", url.Values{"email": {"payer\xff@example.com"}, "password": {"correct horse battery"}}},
		{"/signup", "/signup", url.Values{"email": {"payer\xff@example.com"}, "phone": {"+43664\xff1234567"}}},
		{"/login", "/login", url.Values{"email": {"payer\x00@example.com"}, "password": {"correct\x00horse"}}},
		{"/signup", "/signup", url.Values{"email": {"payer\x00@example.com"}, "phone": {"+43664\x001234567"}}},
	}
	for _, f := range forms {
		resp, err := c.Get(s.base + f.page)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(page)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("GET %s = %d, csrf token found: %v", f.page, resp.StatusCode, m != nil)
		}
		f.form.Set("csrf", string(m[1]))
		req, _ := http.NewRequest("POST", s.base+f.action, strings.NewReader(f.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.base)
		resp, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("POST %s with fields that are not UTF-8 = %d", f.action, resp.StatusCode)
		}
	}
}
