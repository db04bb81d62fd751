package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookReceiver is a merchant's webhook endpoint over TLS on loopback.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	header []http.Header
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		h.mu.Lock()
		h.bodies, h.header = append(h.bodies, b), append(h.header, r.Header.Clone())
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

// trustIn writes the receiver's certificate to a file and makes it the
// only root the kassa processes started after this trust (SSL_CERT_FILE
// is read by Go's crypto/x509 on Linux).
func (h *hookReceiver) trustIn(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hook-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", path)
}

// waitFor returns the first delivery whose event type is typ.
func (h *hookReceiver) waitFor(t *testing.T, typ string, within time.Duration) ([]byte, http.Header) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for i, b := range h.bodies {
			var ev struct{ Type string }
			if json.Unmarshal(b, &ev) == nil && ev.Type == typ {
				body, hd := b, h.header[i]
				h.mu.Unlock()
				return body, hd
			}
		}
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s webhook within %s", typ, within)
	return nil, nil
}

// call sends a JSON request with an optional Idempotency-Key and wants
// status.
func (s *server) call(t *testing.T, method, path, key, idemKey string, body any, status int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s = %d %s: %v", method, path, resp.StatusCode, raw, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s = %d %v, want %d", method, path, resp.StatusCode, out, status)
	}
	return out
}

type issuedVoucher struct {
	Serial, PIN, Currency string
	Amount                int64
}

// num reads a JSON number as int64.
func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// TestE2EPayments takes a payment through its whole life on the real
// binary over TLS: three vouchers confirm a manual-capture payment, part
// is captured and part of that refunded; balances, the payment and each
// voucher agree; the signed payment.captured webhook arrives; the ledger
// verifies offline.
func TestE2EPayments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		sk, pk := createMerchantKeys(t, b)
		out, err := runKassa(t, b, "vouchers", "issue", "--count", "3", "--amount", "1000", "--currency", "EUR", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var vs []issuedVoucher
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var v issuedVoucher
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("vouchers issue --json line %q: %v", line, err)
			}
			vs = append(vs, v)
		}
		if len(vs) != 3 {
			t.Fatalf("issued %d vouchers", len(vs))
		}

		hooks := newHookReceiver(t)
		hooks.trustIn(t)
		s := startServe(t, b, "--allow-private-webhooks", "--rate-limit", "0")
		ep := s.call(t, "POST", "/v1/webhook_endpoints", sk, "", map[string]any{
			"url": hooks.URL + "/kassa", "events": []string{"payment.captured"}}, 201)
		secret, _ := ep["secret"].(string)

		// Create (manual capture) and look at the hosted page over TLS.
		p := s.call(t, "POST", "/v1/payments", sk, "order-1", map[string]any{
			"amount": 2500, "currency": "EUR", "capture_method": "manual", "merchant_reference": "order-1",
			"return_url": "https://shop.example/paid"}, 201)
		id := p["id"].(string)
		if replay := s.call(t, "POST", "/v1/payments", sk, "order-1", map[string]any{
			"amount": 2500, "currency": "EUR", "capture_method": "manual", "merchant_reference": "order-1",
			"return_url": "https://shop.example/paid"}, 201); replay["id"] != id {
			t.Errorf("idempotent replay made payment %v, want %s", replay["id"], id)
		}
		redirect := p["next_action"].(map[string]any)["redirect_url"].(string)
		// On the default --public-url: https://localhost:<port>.
		if !strings.HasPrefix(redirect, strings.Replace(s.base, "127.0.0.1", "localhost", 1)+"/pay/"+id+"?client_secret=") {
			t.Errorf("redirect_url %s", redirect)
		}
		resp, err := s.client.Get(redirect)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "25.00") ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'self' https://shop.example") {
			t.Errorf("hosted page = %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), page)
		}

		// Confirm with three PINs (publishable key); the third is half used.
		c := s.call(t, "POST", "/v1/payments/"+id+"/confirm", pk, "", map[string]any{
			"client_secret":  p["client_secret"],
			"payment_method": map[string]any{"type": "voucher", "pins": []string{vs[0].PIN, vs[1].PIN, vs[2].PIN}},
		}, 200)
		if c["status"] != "authorized" || num(c["amount_capturable"]) != 2500 {
			t.Fatalf("confirmed: %v", c)
		}
		// Capture 20.00 of 25.00: the third voucher gets its 5.00 back.
		c = s.call(t, "POST", "/v1/payments/"+id+"/capture", sk, "cap-1", map[string]any{"amount": 2000}, 200)
		if c["status"] != "captured" || num(c["amount_captured"]) != 2000 || num(c["amount_capturable"]) != 0 {
			t.Fatalf("captured: %v", c)
		}
		// Refund 12.00: the last voucher charged comes first.
		r := s.call(t, "POST", "/v1/refunds", sk, "ref-1", map[string]any{"payment": id, "amount": 1200, "reason": "partial return"}, 201)
		if r["status"] != "succeeded" || num(r["amount"]) != 1200 {
			t.Fatalf("refund: %v", r)
		}

		got := s.call(t, "GET", "/v1/payments/"+id, sk, "", nil, 200)
		if num(got["amount"]) != 2500 || num(got["amount_captured"]) != 2000 || num(got["amount_refunded"]) != 1200 {
			t.Errorf("payment amounts: %v", got)
		}
		uses := got["payment_method"].(map[string]any)["vouchers"].([]any)
		wantUses := [][3]int64{{1000, 1000, 200}, {1000, 1000, 1000}, {500, 0, 0}} // amount, captured, refunded
		if len(uses) != len(wantUses) {
			t.Fatalf("vouchers used: %v", uses)
		}
		balances := map[string]int64{}
		var vouchersTotal int64
		for i, v := range vs {
			vb := s.call(t, "POST", "/v1/vouchers/balance", pk, "", map[string]any{"pin": v.PIN}, 200)
			balances[v.Serial] = num(vb["balance"])
			vouchersTotal += num(vb["balance"])
			u := uses[i].(map[string]any)
			if u["serial"] != v.Serial || [3]int64{num(u["amount"]), num(u["captured"]), num(u["refunded"])} != wantUses[i] {
				t.Errorf("voucher %d in the payment: %v, want %v", i, u, wantUses[i])
			}
			// What the ledger holds for the voucher is its face value less
			// what the payment kept of it.
			if want := v.Amount - num(u["captured"]) + num(u["refunded"]); num(vb["balance"]) != want {
				t.Errorf("voucher %s balance %d, want %d", v.Serial, num(vb["balance"]), want)
			}
		}
		bal := s.call(t, "GET", "/v1/balance", sk, "", nil, 200)
		avail, pend := bal["available"].([]any), bal["pending"].([]any)
		if len(avail) != 1 || num(avail[0].(map[string]any)["amount"]) != 800 || len(pend) != 1 || num(pend[0].(map[string]any)["amount"]) != 0 {
			t.Errorf("balance %v, want 800 EUR available, 0 pending", bal)
		}
		if merchantAvail := num(avail[0].(map[string]any)["amount"]); vouchersTotal+merchantAvail != 3000 {
			t.Errorf("vouchers hold %d and the merchant %d: %d, want the 3000 issued", vouchersTotal, merchantAvail, vouchersTotal+merchantAvail)
		}

		// The signed webhook.
		body, hd := hooks.waitFor(t, "payment.captured", 30*time.Second)
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, hd); err != nil {
			t.Errorf("payment.captured signature: %v", err)
		}
		var ev struct {
			Type string
			Data struct {
				ID             string `json:"id"`
				AmountCaptured int64  `json:"amount_captured"`
			}
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Data.ID != id || ev.Data.AmountCaptured != 2000 {
			t.Errorf("payment.captured = %s (%v)", body, err)
		}

		if err := s.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("stop: %v", err)
		}
		for _, v := range vs {
			if strings.Contains(s.stderr.String(), v.PIN) {
				t.Error("a voucher PIN is in the server log")
			}
		}
		out, err = runKassa(t, b, "ledger", "verify")
		if err != nil || !strings.HasPrefix(out, "ledger ok:") {
			t.Errorf("ledger verify: %q %v", out, err)
		}
	})
}
