package payment_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// testWallet is a third payment method, registered by this test package
// only, built from the package's exported parts alone: a prepaid balance
// in a ledger account test_wallet:<ref> (never negative) the payer names
// by its reference (tw_...). It proves the seam: the lifecycle drives
// it through create, confirm, capture, cancel and refund with no line
// of the state machine knowing of it.
type testWallet struct{}

const testWalletName = "test_wallet"

func init() { payment.RegisterMethod(testWallet{}) }

func walletAccount(ref string) string { return "test_wallet:" + ref }

func walletFloat(cur money.Currency) string { return "test_wallet_float:" + string(cur) }

func (testWallet) Name() string                   { return testWalletName }
func (testWallet) Enabled(*payment.Service) error { return nil }

func (testWallet) Accounts(cur money.Currency) []ledger.Account {
	return []ledger.Account{{ID: walletFloat(cur), Currency: cur, Code: 90}}
}

func (testWallet) Resolve(ctx context.Context, s *payment.Service, p payment.Payment, req payment.ConfirmRequest) (payment.Instrument, error) {
	view := payment.RiskView{Method: risk.MethodAccount}
	if !strings.HasPrefix(req.Token, "tw_") {
		return payment.Instrument{}, kassa.Invalid("payment_method.token", "wallet_required", "name the wallet (tw_...)")
	}
	a, err := s.Ledger().Account(ctx, "", walletAccount(req.Token))
	if errors.Is(err, ledger.ErrNotFound) {
		return payment.Instrument{Risk: view}, kassa.Invalid("payment_method.token", "wallet_not_found", "no such wallet")
	} else if err != nil {
		return payment.Instrument{}, err
	}
	if a.CreditsPosted-a.DebitsPosted-a.DebitsPending < p.Amount {
		return payment.Instrument{Risk: view}, kassa.Invalid("payment_method.token", "wallet_balance_insufficient", "the wallet does not cover the amount")
	}
	ref := req.Token
	return payment.Instrument{Risk: view, Use: func(p *payment.Payment) { p.MethodRef = ref }}, nil
}

func (testWallet) Recheck(context.Context, *payment.Service, payment.Payment) (string, payment.RiskView, error) {
	return "", payment.RiskView{Method: risk.MethodAccount}, nil
}

func authID(p payment.Payment) string { return fmt.Sprintf("pay:%s:auth:0", p.ID) }

func (testWallet) Authorize(ctx context.Context, s *payment.Service, p payment.Payment, next *payment.Payment, hold bool) (payment.Authorization, error) {
	return payment.Authorization{Transfers: []ledger.Transfer{{ID: authID(p), DebitAccountID: walletAccount(next.MethodRef),
		CreditAccountID: payment.MerchantAccount(p.MerchantID, p.Currency), Amount: p.Amount, Currency: p.Currency, Code: 10}}}, nil
}

func (testWallet) Capture(ctx context.Context, s *payment.Service, p payment.Payment, amount money.Amount, next *payment.Payment) ([]ledger.Transfer, error) {
	return []ledger.Transfer{{ID: fmt.Sprintf("pay:%s:capture:0", p.ID), PendingID: authID(p), Amount: amount, Flags: ledger.FlagPostPending}}, nil
}

func (testWallet) Void(ctx context.Context, s *payment.Service, p payment.Payment) ([]ledger.Transfer, error) {
	return []ledger.Transfer{{ID: fmt.Sprintf("pay:%s:release:0", p.ID), PendingID: authID(p), Flags: ledger.FlagVoidPending}}, nil
}

func (testWallet) Refund(ctx context.Context, s *payment.Service, r *payment.Refund, p payment.Payment, next *payment.Payment) ([]ledger.Transfer, error) {
	return []ledger.Transfer{{ID: r.ID + ":0", DebitAccountID: payment.MerchantAccount(p.MerchantID, p.Currency),
		CreditAccountID: walletAccount(p.MethodRef), Amount: r.Amount, Currency: p.Currency, Code: 11}}, nil
}

func (testWallet) Payout(context.Context, *payment.Service, payment.Payment, money.Amount) error {
	return payment.ErrPayoutUnsupported
}

func (testWallet) Check(ctx context.Context, s *payment.Service, p payment.Payment, bad func(string, ...any)) error {
	t, _, err := s.Ledger().Transfer(ctx, "", authID(p))
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		if p.AmountCaptured > 0 || p.AmountCapturable > 0 {
			bad("%s missing", authID(p))
		}
	case err != nil:
		return err
	case t.Amount != p.Amount || t.DebitAccountID != walletAccount(p.MethodRef):
		bad("%s is %d from %s", authID(p), t.Amount, t.DebitAccountID)
	}
	return nil
}

func (testWallet) Describe(p payment.Payment) (*payment.MethodJSON, *payment.NextAction) {
	return &payment.MethodJSON{Type: testWalletName}, nil
}

// fundWallet makes wallet ref holding amount EUR.
func (e *env) fundWallet(ref string, amount money.Amount) {
	e.t.Helper()
	ctx := context.Background()
	res, err := e.led.CreateAccounts(ctx, "", []ledger.Account{
		{ID: walletFloat("EUR"), Currency: "EUR", Code: 90},
		{ID: walletAccount(ref), Currency: "EUR", Code: 91, Flags: ledger.DebitsMustNotExceedCredits}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Code != ledger.OK && r.Code != ledger.Exists {
			e.t.Fatalf("create wallet accounts: %v", res)
		}
	}
	res, err = e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: "fund:" + ref, DebitAccountID: walletFloat("EUR"),
		CreditAccountID: walletAccount(ref), Amount: amount, Currency: "EUR", Code: 1}})
	if err != nil || res[0].Code != ledger.OK {
		e.t.Fatalf("fund wallet: %v %v", res, err)
	}
}

func (e *env) walletBalance(ref string) (posted, pending money.Amount) {
	e.t.Helper()
	a, err := e.led.Account(context.Background(), "", walletAccount(ref))
	if err != nil {
		e.t.Fatal(err)
	}
	return a.CreditsPosted - a.DebitsPosted, a.DebitsPending
}

// TestMethodSeam drives a method the payment package does not know —
// registered by this test — through the whole lifecycle: the registry
// finds it by name, risk sees its class, the ledger books what it says,
// the public form describes it, and reconciliation and ledger
// verification stay clean.
func TestMethodSeam(t *testing.T) {
	if !slices.Contains(payment.MethodNames(), testWalletName) {
		t.Fatalf("MethodNames() = %v, want %s among them", payment.MethodNames(), testWalletName)
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.fundWallet("tw_1", 10000)
		confirm := func(p payment.Payment, ref string) (payment.Payment, error) {
			return e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
				Method: testWalletName, Token: ref, ClientIP: "192.0.2.1"})
		}

		// A payer's mistakes leave the payment waiting.
		p := e.create(2500, payment.CaptureManual)
		if _, err := confirm(p, "tw_nope"); code(err) != "wallet_not_found" {
			t.Fatalf("unknown wallet: %s", code(err))
		}
		big := e.create(20000, payment.CaptureManual)
		if _, err := confirm(big, "tw_1"); code(err) != "wallet_balance_insufficient" {
			t.Fatalf("short wallet: %s", code(err))
		}
		if got, _ := e.pay.Get(ctx, e.merchant, big.ID); got.Status != payment.StatusRequiresAction {
			t.Fatalf("after a refused wallet the payment is %s", got.Status)
		}

		// create → confirm (authorize) → capture part → refund part.
		p, err := confirm(p, "tw_1")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payment.StatusAuthorized || p.MethodType != testWalletName || p.MethodRef != "tw_1" {
			t.Fatalf("confirmed: %s %s %q", p.Status, p.MethodType, p.MethodRef)
		}
		if posted, pending := e.walletBalance("tw_1"); posted != 10000 || pending != 2500 {
			t.Fatalf("wallet after authorization: %d posted, %d pending; want 10000, 2500", posted, pending)
		}
		stored, err := e.pay.Get(ctx, e.merchant, p.ID)
		if err != nil || stored.MethodRef != "tw_1" {
			t.Fatalf("stored method_ref %q, %v", stored.MethodRef, err)
		}
		if pm := payment.Public(stored).PaymentMethod; pm == nil || pm.Type != testWalletName {
			t.Fatalf("public payment_method %+v", pm)
		}
		amt := money.Amount(2000)
		if p, err = e.pay.Capture(ctx, e.merchant, p.ID, &amt); err != nil || p.Status != payment.StatusCaptured {
			t.Fatalf("capture: %v %v", p.Status, err)
		}
		if posted, pending := e.walletBalance("tw_1"); posted != 8000 || pending != 0 {
			t.Fatalf("wallet after capture of 2000: %d posted, %d pending", posted, pending)
		}
		part := money.Amount(500)
		r, p, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &part})
		if err != nil || r.Status != payment.RefundSucceeded || p.AmountRefunded != 500 {
			t.Fatalf("refund: %+v %v", r, err)
		}
		if posted, _ := e.walletBalance("tw_1"); posted != 8500 {
			t.Fatalf("wallet after refund of 500: %d", posted)
		}
		if b := e.merchantBalance(); b.Available != 1500 || b.Pending != 0 {
			t.Fatalf("merchant balance %+v, want 1500 available", b)
		}

		// Automatic capture, and a cancel that gives the money back.
		auto := e.create(1000, payment.CaptureAutomatic)
		if auto, err = confirm(auto, "tw_1"); err != nil || auto.Status != payment.StatusCaptured {
			t.Fatalf("automatic capture: %v %v", auto.Status, err)
		}
		held := e.create(3000, payment.CaptureManual)
		if held, err = confirm(held, "tw_1"); err != nil {
			t.Fatal(err)
		}
		if held, err = e.pay.Cancel(ctx, e.merchant, held.ID); err != nil || held.Status != payment.StatusCanceled {
			t.Fatalf("cancel: %v %v", held.Status, err)
		}
		if posted, pending := e.walletBalance("tw_1"); posted != 7500 || pending != 0 {
			t.Fatalf("wallet at the end: %d posted, %d pending; want 7500, 0", posted, pending)
		}
		e.check()
	})
}

// TestMethodUnknown: a confirmation naming no registered method is
// refused, naming the ones there are, and changes nothing.
func TestMethodUnknown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		p := e.create(1000, payment.CaptureManual)
		_, err := e.pay.Confirm(context.Background(), e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "bitcoin"})
		ke := kassa.AsError(err)
		if ke == nil || ke.Code != "payment_method_unsupported" || !strings.HasSuffix(ke.Message, "must be voucher, card, pay_later, kassa_balance or "+testWalletName) {
			t.Fatalf("unknown method: %v", err)
		}
		if got, _ := e.pay.Get(context.Background(), e.merchant, p.ID); got.Version != p.Version {
			t.Fatalf("the refused confirmation changed the payment")
		}
	})
}
