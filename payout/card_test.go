package payout_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/payout"
)

// deposits is a table of deposits by merchant and payment: the payment
// service's answers, which the e2e test (cmd/kassa) gets from the real one.
type deposits map[string]payout.Deposit

func (d deposits) Deposit(_ context.Context, merchantID, paymentID string) (payout.Deposit, error) {
	dep, ok := d[merchantID+"/"+paymentID]
	if !ok {
		return payout.Deposit{}, kassa.Errorf(kassa.ENotFound, "payment_not_found", "no such payment")
	}
	return dep, nil
}

// PayerDeposits lists the table's deposits of merchantID paid by
// customerID (its Kassa account), newest (highest id) first.
func (d deposits) PayerDeposits(_ context.Context, merchantID, customerID string, limit int) ([]payout.Deposit, error) {
	var out []payout.Deposit
	for k, dep := range d {
		if strings.HasPrefix(k, merchantID+"/") && dep.PayerID == customerID {
			out = append(out, dep)
		}
	}
	slices.SortFunc(out, func(a, b payout.Deposit) int { return strings.Compare(b.PaymentID, a.PaymentID) })
	return out[:min(limit, len(out))], nil
}

// newClosedLoopEnv has a card deposit (authorized at the real test
// acquirer) and a voucher deposit of the env's merchant.
func newClosedLoopEnv(t *testing.T) (*env, *acquirer.Test, deposits) {
	e := newSQLiteEnv(t, options{})
	e.fund(10_000)
	acq := acquirer.NewTest()
	auth, err := acq.Authorize(context.Background(), acquirer.AuthorizeRequest{IdempotencyKey: "a1", PAN: acquirer.CardApproved,
		ExpMonth: 12, ExpYear: 2040, CVC: "123", Amount: 3_000, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	deps := deposits{
		e.merchant + "/pay_card":    {PaymentID: "pay_card", Method: payout.MethodCard, Currency: "EUR", Net: 3_000, AuthorizationID: auth.AuthorizationID},
		e.merchant + "/pay_voucher": {PaymentID: "pay_voucher", Method: payout.MethodVoucher, Currency: "EUR", Net: 2_000, PayerID: "cus_jane"},
		"mer_other/pay_theirs":      {PaymentID: "pay_theirs", Method: payout.MethodCard, Currency: "EUR", Net: 9_000},
	}
	e.svc = payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, Deposits: deps, KYC: testKYC,
		Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank, payout.DestCard: payout.CardRail{Acquirer: acq}}})
	return e, acq, deps
}

func closedLoopReq(amount int64, typ, pay string) payout.CreateRequest {
	r := bankReq(0, "")
	r.Amount = moneyAmount(amount)
	r.Customer.ID = "cus_jane"
	r.Destination = payout.Destination{Type: typ, Payment: pay}
	return r
}

func TestClosedLoop(t *testing.T) {
	e, _, _ := newClosedLoopEnv(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		req         payout.CreateRequest
		code, param string
	}{
		{"another merchant's payment", closedLoopReq(100, payout.DestOriginalMethod, "pay_theirs"), "payment_not_found", "destination.payment"},
		{"no payment", closedLoopReq(100, payout.DestCard, ""), "payment_required", "destination.payment"},
		{"card payout to a voucher deposit", closedLoopReq(100, payout.DestCard, "pay_voucher"), "payment_not_card", "destination.payment"},
		{"above the card deposit", closedLoopReq(3_001, payout.DestOriginalMethod, "pay_card"), "amount_exceeds_deposit", "amount"},
		{"another payer's vouchers", func() payout.CreateRequest {
			r := closedLoopReq(100, payout.DestOriginalMethod, "pay_voucher")
			r.Customer.ID = "cus_mallory"
			return r
		}(), "customer_mismatch", "customer.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Create(ctx, e.merchant, tt.req)
			if ke := kassa.AsError(err); ke == nil || ke.Code != tt.code || ke.Param != tt.param {
				t.Errorf("got %v, want %s (%s)", err, tt.code, tt.param)
			}
		})
	}
	// Back to the card through the acquirer; the voucher share to the wallet.
	card, err := e.svc.Create(ctx, e.merchant, closedLoopReq(2_000, payout.DestOriginalMethod, "pay_card"))
	if err != nil || card.Rail != "card" {
		t.Fatalf("card payout: %v %+v", err, card)
	}
	e.process()
	if got := e.get(card); got.Status != payout.StatusPaid {
		t.Errorf("card payout is %s", got.Status)
	}
	v, err := e.svc.Create(ctx, e.merchant, closedLoopReq(2_000, payout.DestOriginalMethod, "pay_voucher"))
	if err != nil || v.Status != payout.StatusPaid || v.Rail != payout.RailWallet {
		t.Fatalf("voucher share: %v %+v", err, v)
	}
	if w, _ := e.svc.Wallet(ctx, "cus_jane", "EUR"); w.Available != 2_000 {
		t.Errorf("wallet %+v", w)
	}
	// What was paid back counts: 1,000 is left of the card deposit.
	if _, err := e.svc.Create(ctx, e.merchant, closedLoopReq(1_001, payout.DestCard, "pay_card")); kassa.AsError(err) == nil || kassa.AsError(err).Code != "amount_exceeds_deposit" {
		t.Errorf("second card payout beyond what is left: %v", err)
	}
	e.check()
}

// TestClosedLoopRace: payouts racing for one deposit never pay back more
// than it holds.
func TestClosedLoopRace(t *testing.T) {
	e, _, _ := newClosedLoopEnv(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			_, err := e.svc.Create(context.Background(), e.merchant, closedLoopReq(1_000, payout.DestCard, "pay_card"))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if ke := kassa.AsError(err); ke == nil || ke.Code != "amount_exceeds_deposit" {
				t.Errorf("payout: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 {
		t.Errorf("%d payouts of 1000 back to a 3000 deposit, want 3", ok)
	}
	e.check()
}
