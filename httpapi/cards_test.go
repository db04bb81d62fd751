package httpapi_test

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
)

// newCardFixture is a server that takes card payments through acq, the
// test acquirer when nil (no risk engine).
func newCardFixture(t *testing.T, acq acquirer.Acquirer) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	led := newLedger(t, db)
	vouchers := newVoucherService(t, db, led, nil)
	vault := newVaultService(t, db)
	pay := payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: vouchers, Vault: vault,
		Acquirer: cmp.Or[acquirer.Acquirer](acq, acquirer.NewTest())})
	return newFixtureDB(t, db, httpapi.Config{Ledger: led, Webhooks: newWebhookService(db), Vouchers: vouchers, Vault: vault,
		Payments: pay}, nil)
}

// TestStoredCardAttack: someone who learned a stored card's id (card_...)
// and holds only the publishable key and a payment's client secret — a
// payer of the same shop — cannot charge it. The secret key can, and so
// can the payer of a payment the merchant bound to the card's customer.
func TestStoredCardAttack(t *testing.T) {
	f := newCardFixture(t, nil)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	resp, b := f.do(t, "POST", "/v1/tokens", pk, "application/json", cardBody("4242424242424242", 12, 2030, "123"))
	if resp.StatusCode != 201 {
		t.Fatalf("tokenize: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "POST", "/v1/cards", sk, "application/json", fmt.Sprintf(`{"token":%q,"customer":"cus_victim"}`, decode(t, b)["id"]))
	if resp.StatusCode != 201 {
		t.Fatalf("store the card: %d %s", resp.StatusCode, b)
	}
	card := decode(t, b)["id"].(string)
	create := func(body string) (id, secret string) {
		t.Helper()
		resp, b := f.do(t, "POST", "/v1/payments", sk, "application/json", body)
		if resp.StatusCode != 201 {
			t.Fatalf("create payment: %d %s", resp.StatusCode, b)
		}
		p := decode(t, b)
		return p["id"].(string), p["client_secret"].(string)
	}
	confirm := func(key, id, secret string) (int, map[string]any) {
		t.Helper()
		resp, b := f.do(t, "POST", "/v1/payments/"+id+"/confirm", key, "application/json",
			fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"card","card":%q}}`, secret, card))
		return resp.StatusCode, decode(t, b)
	}

	// The attacker's own checkout at the shop: no customer, or itself.
	for _, body := range []string{`{"amount":5000,"currency":"EUR"}`,
		`{"amount":5000,"currency":"EUR","customer":{"id":"cus_attacker"}}`} {
		id, secret := create(body)
		if st, p := confirm(pk, id, secret); st != 404 || p["code"] != "card_not_found" {
			t.Errorf("publishable key with a learned card id (%s): %d %v", body, st, p)
		}
		_, b := f.do(t, "GET", "/v1/payments/"+id, sk, "", "")
		if p := decode(t, b); p["status"] != "requires_action" || p["amount_captured"] != float64(0) {
			t.Errorf("the payment after the attack: %s", b)
		}
	}

	// The merchant's server charges the stored card.
	id, secret := create(`{"amount":700,"currency":"EUR"}`)
	if st, p := confirm(sk, id, secret); st != 200 || p["status"] != "captured" {
		t.Errorf("secret key: %d %v", st, p)
	}
	// The payer of a payment the merchant made for the card's customer.
	id, secret = create(`{"amount":800,"currency":"EUR","customer":{"id":"cus_victim"}}`)
	if st, p := confirm(pk, id, secret); st != 200 || p["status"] != "captured" {
		t.Errorf("the card's customer's payment: %d %v", st, p)
	}
}

// lossyAcquirer is the test acquirer whose refund answers can be lost
// (the acquirer refunds, Kassa hears a timeout); it counts what it
// refunded per idempotency key.
type lossyAcquirer struct {
	*acquirer.Test
	mu       sync.Mutex
	lose     int
	refunded map[string]int64
}

func (l *lossyAcquirer) Refund(ctx context.Context, req acquirer.RefundRequest) (acquirer.Result, error) {
	res, err := l.Test.Refund(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && res.Status == acquirer.Approved {
		l.refunded[req.IdempotencyKey] = int64(res.Amount)
	}
	if l.lose > 0 {
		l.lose--
		return acquirer.Result{}, acquirer.ErrTimeout
	}
	return res, err
}

func (l *lossyAcquirer) total() (sum int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.refunded {
		sum += a
	}
	return sum
}

// TestCardRefundRetryThroughAPI: the acquirer refunds but its answer is
// lost, so the refund is answered pending; the merchant retries under the
// same Idempotency-Key after the API forgot the key (as it does after a
// 5xx). The retry returns the same refund, now succeeded, and the
// acquirer refunded once.
func TestCardRefundRetryThroughAPI(t *testing.T) {
	acq := &lossyAcquirer{Test: acquirer.NewTest(), lose: 1, refunded: map[string]int64{}}
	f := newCardFixture(t, acq)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	_, b := f.do(t, "POST", "/v1/payments", sk, "application/json", `{"amount":3000,"currency":"EUR"}`)
	p := decode(t, b)
	_, b = f.do(t, "POST", "/v1/tokens", pk, "application/json", cardBody("4242424242424242", 12, 2030, "123"))
	resp, b := f.do(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, "application/json",
		fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"card","token":%q}}`, p["client_secret"], decode(t, b)["id"]))
	if resp.StatusCode != 200 || decode(t, b)["status"] != "captured" {
		t.Fatalf("pay: %d %s", resp.StatusCode, b)
	}
	body := fmt.Sprintf(`{"payment":%q,"amount":1000}`, p["id"])
	resp, b = f.doKey(t, "/v1/refunds", sk, "refund-order-1", body)
	first := decode(t, b)
	if resp.StatusCode != 201 || first["status"] != "pending" {
		// The merchant retries, as a 5xx tells it to.
		t.Errorf("refund whose answer was lost: %d %s", resp.StatusCode, b)
	}
	// The API forgets the key, as it does when a request ends in a 5xx.
	if _, err := f.db.Writer().ExecContext(context.Background(), `DELETE FROM idempotency_keys`); err != nil {
		t.Fatal(err)
	}
	resp, b = f.doKey(t, "/v1/refunds", sk, "refund-order-1", body)
	again := decode(t, b)
	if resp.StatusCode != 201 || again["id"] != first["id"] || again["status"] != "succeeded" {
		t.Errorf("retry under the same key: %d %s, first %v", resp.StatusCode, b, first["id"])
	}
	_, b = f.do(t, "GET", "/v1/payments/"+p["id"].(string), sk, "", "")
	if got := decode(t, b)["amount_refunded"]; got != float64(1000) || acq.total() != 1000 {
		t.Errorf("amount_refunded %v, the acquirer refunded %d; want 1000 and 1000", got, acq.total())
	}
}
