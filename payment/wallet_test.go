package payment_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/risk"
)

// credit puts amount EUR on payer's wallet as the payout engine does (a
// never-negative account wallet:<cus>:EUR credited from a clearing
// account).
func (e *env) credit(payer string, amount money.Amount) {
	e.t.Helper()
	ctx := context.Background()
	acct := payout.WalletAccount(payer, "EUR")
	res, err := e.led.CreateAccounts(ctx, "", []ledger.Account{
		{ID: "payout_clearing:EUR", Currency: "EUR", Code: 4},
		{ID: acct, Currency: "EUR", Code: 5, Flags: ledger.DebitsMustNotExceedCredits}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Code != ledger.OK && r.Code != ledger.Exists {
			e.t.Fatalf("create wallet accounts: %v", res)
		}
	}
	a, err := e.led.Account(ctx, "", acct)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err = e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: fmt.Sprintf("fund:%s:%d", acct, a.CreditsPosted),
		DebitAccountID: "payout_clearing:EUR", CreditAccountID: acct, Amount: amount, Currency: "EUR", Code: 1}})
	if err != nil || res[0].Code != ledger.OK {
		e.t.Fatalf("credit wallet: %v %v", res, err)
	}
}

func (e *env) wallet(payer string) (available, pending money.Amount) {
	e.t.Helper()
	a, err := e.led.Account(context.Background(), "", payout.WalletAccount(payer, "EUR"))
	if err != nil {
		e.t.Fatal(err)
	}
	if a.DebitsPosted+a.DebitsPending > a.CreditsPosted {
		e.t.Fatalf("wallet of %s is negative: %+v", payer, a)
	}
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending, a.DebitsPending
}

func (e *env) payWallet(pay *payment.Service, p payment.Payment, payer string) (payment.Payment, error) {
	return pay.Confirm(context.Background(), e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		Method: payment.MethodKassaBalance, PayerID: payer, ClientIP: "192.0.2.1"})
}

// TestWalletLifecycle: a logged-in payer pays from their balance;
// capture, cancel and refund move the wallet as they should, and the
// ledger and reconciliation stay clean.
func TestWalletLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.credit("cus_alice", 10000)

		p := e.create(2500, payment.CaptureManual)
		p, err := e.payWallet(e.pay, p, "cus_alice")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payment.StatusAuthorized || p.MethodType != payment.MethodKassaBalance || p.PayerID != "cus_alice" {
			t.Fatalf("confirmed: %s %s payer %q", p.Status, p.MethodType, p.PayerID)
		}
		if avail, pending := e.wallet("cus_alice"); avail != 7500 || pending != 2500 {
			t.Fatalf("wallet after authorization: %d available, %d pending; want 7500, 2500", avail, pending)
		}
		if pm := payment.Public(p).PaymentMethod; pm == nil || pm.Type != payment.MethodKassaBalance {
			t.Fatalf("public payment_method %+v", pm)
		}
		amt := money.Amount(2000)
		if p, err = e.pay.Capture(ctx, e.merchant, p.ID, &amt); err != nil || p.Status != payment.StatusCaptured {
			t.Fatalf("capture: %v %v", p.Status, err)
		}
		if avail, pending := e.wallet("cus_alice"); avail != 8000 || pending != 0 {
			t.Fatalf("wallet after capture of 2000: %d available, %d pending", avail, pending)
		}
		part := money.Amount(500)
		r, p, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &part})
		if err != nil || r.Status != payment.RefundSucceeded || p.AmountRefunded != 500 {
			t.Fatalf("refund: %+v %v", r, err)
		}
		if avail, _ := e.wallet("cus_alice"); avail != 8500 {
			t.Fatalf("wallet after refund of 500: %d, want 8500", avail)
		}
		// The rest of the capture can be refunded too, not more.
		if _, p, err = e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID}); err != nil || p.AmountRefunded != 2000 {
			t.Fatalf("refund of the rest: %d, %v", p.AmountRefunded, err)
		}
		if avail, _ := e.wallet("cus_alice"); avail != 10000 {
			t.Fatalf("wallet after the full refund: %d, want 10000", avail)
		}

		auto := e.create(1000, payment.CaptureAutomatic)
		if auto, err = e.payWallet(e.pay, auto, "cus_alice"); err != nil || auto.Status != payment.StatusCaptured {
			t.Fatalf("automatic capture: %v %v", auto.Status, err)
		}
		held := e.create(3000, payment.CaptureManual)
		if held, err = e.payWallet(e.pay, held, "cus_alice"); err != nil {
			t.Fatal(err)
		}
		if held, err = e.pay.Cancel(ctx, e.merchant, held.ID); err != nil || held.Status != payment.StatusCanceled {
			t.Fatalf("cancel: %v %v", held.Status, err)
		}
		if avail, pending := e.wallet("cus_alice"); avail != 9000 || pending != 0 {
			t.Fatalf("wallet at the end: %d available, %d pending; want 9000, 0", avail, pending)
		}
		if b := e.merchantBalance(); b.Available != 1000 || b.Pending != 0 {
			t.Fatalf("merchant balance %+v, want 1000 available", b)
		}
		e.check()
	})
}

// TestWalletHostile: a stranger with no Kassa session, a payer reaching
// for a payment another account owns, a payer without enough balance (or
// none in the currency), each refused with nothing moved.
func TestWalletHostile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.credit("cus_alice", 5000)
		e.credit("cus_mallory", 100)

		p := e.create(2000, payment.CaptureManual)
		// Not logged in: the merchant's API and an anonymous page alike.
		if _, err := e.payWallet(e.pay, p, ""); code(err) != payment.CodeWalletLoginRequired {
			t.Fatalf("no payer: %s", code(err))
		}
		// More than the balance: a declined try, the payment waits.
		if _, err := e.payWallet(e.pay, p, "cus_mallory"); code(err) != payment.CodeWalletShort {
			t.Fatalf("short wallet: %s", code(err))
		}
		// A payer with no wallet at all.
		if _, err := e.payWallet(e.pay, p, "cus_nobody"); code(err) != payment.CodeWalletShort {
			t.Fatalf("no wallet: %s", code(err))
		}
		if got, _ := e.pay.Get(ctx, e.merchant, p.ID); got.Status != payment.StatusRequiresAction || got.AmountCapturable != 0 {
			t.Fatalf("after refused tries the payment is %s (%d capturable)", got.Status, got.AmountCapturable)
		}
		// Another payer's wallet: nothing names a wallet but the session,
		// so mallory's session, whatever else it sends, pays from
		// mallory's wallet only.
		if _, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
			Method: payment.MethodKassaBalance, PayerID: "cus_mallory", Token: "cus_alice", CardID: "cus_alice",
			ClientIP: "192.0.2.1"}); code(err) != payment.CodeWalletShort {
			t.Fatalf("mallory naming alice: %s", code(err))
		}
		if avail, _ := e.wallet("cus_mallory"); avail != 100 {
			t.Fatalf("mallory's wallet %d, want 100", avail)
		}
		if avail, pending := e.wallet("cus_alice"); avail != 5000 || pending != 0 {
			t.Fatalf("alice's wallet %d available %d pending, want 5000, 0", avail, pending)
		}
		// The payment still waits: alice, whose balance covers it, pays.
		if p, err := e.payWallet(e.pay, p, "cus_alice"); err != nil || p.Status != payment.StatusAuthorized {
			t.Fatalf("alice pays: %v", err)
		}
		// Another currency: alice has no USD.
		usd, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 100, Currency: "USD", CaptureMethod: payment.CaptureManual})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.payWallet(e.pay, usd, "cus_alice"); code(err) != payment.CodeWalletShort {
			t.Fatalf("USD from a EUR wallet: %s", code(err))
		}
		e.check()
	})
}

// TestWalletRace: payments racing for one balance never overdraw it;
// exactly as many succeed as it covers (3 of 600 from 2000), the others
// are told the balance no longer covers them.
func TestWalletRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.credit("cus_alice", 2000)
		const n = 8
		ps := make([]payment.Payment, n)
		for i := range ps {
			ps[i] = e.create(600, payment.CaptureAutomatic)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.payWallet(e.pay, ps[i], "cus_alice")
			}()
		}
		wg.Wait()
		paid := 0
		for _, err := range errs {
			switch code(err) {
			case "":
				paid++
			case payment.CodeWalletShort:
			default:
				t.Errorf("racing confirm: %v", err)
			}
		}
		if paid != 3 {
			t.Fatalf("%d payments of 600 paid from 2000", paid)
		}
		if avail, _ := e.wallet("cus_alice"); avail != 2000-money.Amount(paid)*600 {
			t.Fatalf("wallet %d after %d payments of 600", avail, paid)
		}
		e.check()
	})
}

// TestWalletStepUp: wallet payments are scored like the others; a
// rule's step-up holds the payment, and the payer of record's pass pays
// it from their wallet.
func TestWalletStepUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newChallengeEnv(t, e)
		ctx := context.Background()
		e.credit("cus_alice", 5000)
		p, err := c.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 2000, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		p, err = e.payWallet(c.pay, p, "cus_alice")
		if err != nil || p.Risk.Challenge != payment.ChallengePending || p.Risk.Factor != risk.FactorOTP {
			t.Fatalf("confirm: %s challenge %q, %v", p.Status, p.Risk.Challenge, err)
		}
		if avail, _ := e.wallet("cus_alice"); avail != 5000 {
			t.Fatalf("wallet charged before the step-up: %d", avail)
		}
		if _, err := c.pay.CompleteChallenge(ctx, p.ID, payment.ChallengeResult{Passed: true, PayerID: "cus_mallory"}); code(err) != payment.CodeChallengePayerMismatch {
			t.Fatalf("another account's pass: %s", code(err))
		}
		got, err := c.pay.CompleteChallenge(ctx, p.ID, payment.ChallengeResult{Passed: true, PayerID: "cus_alice"})
		if err != nil || got.Status != payment.StatusCaptured {
			t.Fatalf("pass: %s %v", got.Status, err)
		}
		if avail, _ := e.wallet("cus_alice"); avail != 3000 {
			t.Fatalf("wallet after the step-up: %d, want 3000", avail)
		}
		e.check()
	})
}
