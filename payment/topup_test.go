package payment_test

import (
	"context"
	"sync"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/vault"
)

func (e *env) topUp(payer string, amount money.Amount) payment.Payment {
	e.t.Helper()
	p, err := e.pay.CreateTopUp(context.Background(), payment.TopUpRequest{PayerID: payer, Amount: amount, Currency: "EUR"})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) confirmAs(p payment.Payment, payer string, req payment.ConfirmRequest) (payment.Payment, error) {
	req.ClientSecret, req.PayerID, req.ClientIP = p.ClientSecret, payer, "192.0.2.1"
	return e.pay.Confirm(context.Background(), "", p.ID, req)
}

// TestTopUp: a payer fills their wallet with vouchers and with a card;
// the money lands in their wallet, not in a merchant's balance; the
// wallet then pays at a merchant; a refund of a top-up takes the money
// back from the wallet and never below zero; ledger and reconciliation
// stay clean.
func TestTopUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, _ := e.issue(2, 3000)
		p := e.topUp("cus_ann", 5000)
		if p.MerchantID != payment.TopUpMerchant || p.PayerID != "cus_ann" || !payment.IsTopUp(p) {
			t.Fatalf("top-up: %+v", p)
		}
		p, err := e.confirmAs(p, "cus_ann", payment.ConfirmRequest{PINs: pins})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payment.StatusCaptured {
			t.Fatalf("top-up by vouchers: %s", p.Status)
		}
		if avail, _ := e.wallet("cus_ann"); avail != 5000 {
			t.Fatalf("wallet after a 50.00 top-up: %d", avail)
		}

		c := e.topUp("cus_ann", 2000)
		c, err = e.confirmAs(c, "cus_ann", payment.ConfirmRequest{Method: payment.MethodCard, Token: e.topUpToken("4242424242424242")})
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != payment.StatusCaptured {
			t.Fatalf("top-up by card: %s", c.Status)
		}
		if avail, _ := e.wallet("cus_ann"); avail != 7000 {
			t.Fatalf("wallet after a card top-up: %d", avail)
		}

		// Spent at a merchant: 65.00 of the 70.00.
		m := e.create(6500, payment.CaptureAutomatic)
		if _, err := e.payWallet(e.pay, m, "cus_ann"); err != nil {
			t.Fatal(err)
		}
		// A refund of the voucher top-up would take the wallet below
		// zero: refused, nothing moves.
		_, _, err = e.pay.CreateRefund(ctx, payment.TopUpMerchant, payment.RefundRequest{Payment: p.ID})
		if errCode(err) != payment.CodeTopUpSpent {
			t.Fatalf("refund of a spent top-up: %v; want %s", err, payment.CodeTopUpSpent)
		}
		if avail, _ := e.wallet("cus_ann"); avail != 500 {
			t.Fatalf("wallet after the refused refund: %d", avail)
		}
		// What is left may be refunded (to the voucher).
		amt := money.Amount(500)
		if _, _, err := e.pay.CreateRefund(ctx, payment.TopUpMerchant, payment.RefundRequest{Payment: p.ID, Amount: &amt}); err != nil {
			t.Fatal(err)
		}
		if avail, _ := e.wallet("cus_ann"); avail != 0 {
			t.Fatalf("wallet after refunding the rest: %d", avail)
		}
		if bal := e.merchantBalance(); bal.Available != 6500 {
			t.Fatalf("merchant balance: %+v; want the 65.00 the wallet paid", bal)
		}
		e.check()
	})
}

// TestTopUpHostile: nobody but the payer of record confirms a top-up,
// not even with its client secret; the wallet it fills cannot pay it;
// bad amounts are refused.
func TestTopUpHostile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, _ := e.issue(1, 1000)
		p := e.topUp("cus_ann", 1000)
		for _, who := range []string{"", "cus_mallory"} {
			if _, err := e.confirmAs(p, who, payment.ConfirmRequest{PINs: pins}); errCode(err) != payment.CodeWalletPayerMismatch {
				t.Fatalf("confirm by %q: %v; want %s", who, err, payment.CodeWalletPayerMismatch)
			}
		}
		e.credit("cus_ann", 5000)
		if _, err := e.confirmAs(p, "cus_ann", payment.ConfirmRequest{Method: payment.MethodKassaBalance}); errCode(err) != payment.CodeTopUpMethod {
			t.Fatalf("top-up paid by the wallet: %v", err)
		}
		// The merchant's API (any merchant id but the platform's) does
		// not find it.
		if _, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, PINs: pins}); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Fatalf("confirm through another merchant: %v", err)
		}
		for _, amt := range []money.Amount{0, payment.TopUpMin - 1, payment.TopUpMax + 1} {
			if _, err := e.pay.CreateTopUp(ctx, payment.TopUpRequest{PayerID: "cus_ann", Amount: amt, Currency: "EUR"}); errCode(err) != "amount_invalid" {
				t.Fatalf("top-up of %d: %v", amt, err)
			}
		}
		if _, err := e.pay.CreateTopUp(ctx, payment.TopUpRequest{PayerID: "", Amount: 1000, Currency: "EUR"}); errCode(err) != payment.CodeWalletLoginRequired {
			t.Fatalf("top-up without a payer: %v", err)
		}
		if avail, _ := e.wallet("cus_ann"); avail != 5000 {
			t.Fatalf("wallet after refused tries: %d", avail)
		}
		e.check()
	})
}

// TestTopUpRefundRace: refunds of a top-up racing a wallet payment for
// the same balance never take the wallet below zero.
func TestTopUpRefundRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, _ := e.issue(1, 4000)
		p := e.topUp("cus_ann", 4000)
		if _, err := e.confirmAs(p, "cus_ann", payment.ConfirmRequest{PINs: pins}); err != nil {
			t.Fatal(err)
		}
		const n = 4
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				amt := money.Amount(1000)
				e.pay.CreateRefund(ctx, payment.TopUpMerchant, payment.RefundRequest{Payment: p.ID, Amount: &amt})
			}()
			go func() {
				defer wg.Done()
				m := e.create(1000+money.Amount(i), payment.CaptureAutomatic)
				e.payWallet(e.pay, m, "cus_ann")
			}()
		}
		wg.Wait()
		e.wallet("cus_ann") // fails on a negative wallet
		e.check()
	})
}

func errCode(err error) string {
	if e := kassa.AsError(err); e != nil {
		return e.Code
	}
	return ""
}

func (e *env) topUpToken(pan string) string {
	e.t.Helper()
	tok, err := e.vault.Tokenize(context.Background(), payment.TopUpMerchant, vault.CardInput{Number: pan, ExpMonth: 12, ExpYear: 2030, CVC: "123"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.ID
}

// TestTopUpNotByAPI: the platform merchant's key cannot create payments
// (they would be top-ups without a payer).
func TestTopUpNotByAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		_, err := e.pay.Create(context.Background(), payment.TopUpMerchant, payment.CreateRequest{Amount: 1000, Currency: "EUR"})
		if errCode(err) != "platform_merchant" {
			t.Fatalf("a payment of the platform merchant through the API: %v", err)
		}
	})
}
