package payout_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

// newSplitEnv: cus_jane deposited by card (30.00), vouchers (20.00) and
// her wallet (10.00) at the env's merchant, which holds 200.00.
func newSplitEnv(t *testing.T) *env {
	e := newSQLiteEnv(t, options{})
	e.fund(20_000)
	acq := acquirer.NewTest()
	auth, err := acq.Authorize(context.Background(), acquirer.AuthorizeRequest{IdempotencyKey: "a1", PAN: acquirer.CardApproved,
		ExpMonth: 12, ExpYear: 2040, CVC: "123", Amount: 3_000, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	deps := deposits{
		e.merchant + "/pay_3card":    {PaymentID: "pay_3card", Method: payout.MethodCard, Currency: "EUR", Net: 3_000, AuthorizationID: auth.AuthorizationID, PayerID: "cus_jane"},
		e.merchant + "/pay_2voucher": {PaymentID: "pay_2voucher", Method: payout.MethodVoucher, Currency: "EUR", Net: 2_000, PayerID: "cus_jane"},
		e.merchant + "/pay_1wallet":  {PaymentID: "pay_1wallet", Method: payout.MethodKassaBalance, Currency: "EUR", Net: 1_000, PayerID: "cus_jane"},
		e.merchant + "/pay_0usd":     {PaymentID: "pay_0usd", Method: payout.MethodCard, Currency: "USD", Net: 9_000, PayerID: "cus_jane"},
		e.merchant + "/pay_9bob":     {PaymentID: "pay_9bob", Method: payout.MethodCard, Currency: "EUR", Net: 9_000, PayerID: "cus_bob"},
	}
	e.svc = payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, Deposits: deps, KYC: testKYC,
		Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank, payout.DestCard: payout.CardRail{Acquirer: acq}}})
	return e
}

func splitReq(amount money.Amount) payout.CreateRequest {
	r := closedLoopReq(int64(amount), payout.DestOriginalMethod, "")
	return r
}

// TestSplitPayout: one original_method payout without a payment pays
// back over all of the payer's deposits, each up to what is left of it:
// the card to the card, vouchers' and the wallet payment's share to the
// wallet, winnings beyond to the wallet (or the payer's bank account).
func TestSplitPayout(t *testing.T) {
	e := newSplitEnv(t)
	ctx := context.Background()
	// validate_only shows the legs and reserves nothing.
	req := splitReq(8_000)
	req.ValidateOnly = true
	v, err := e.svc.Create(ctx, e.merchant, req)
	if err != nil || len(v.Legs) != 4 || v.ID != "" {
		t.Fatalf("validate_only split: %+v %v", v, err)
	}
	if m := e.merchantAccount(); m.DebitsPending != 0 {
		t.Fatal("validate_only reserved")
	}
	req.ValidateOnly, req.RequestKey = false, "split-1"
	p, err := e.svc.Create(ctx, e.merchant, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		amount  money.Amount
		payment string
		rail    string
	}{{3_000, "pay_3card", "card"}, {2_000, "pay_2voucher", payout.RailWallet}, {1_000, "pay_1wallet", payout.RailWallet}, {2_000, "", payout.RailWallet}}
	if len(p.Legs) != len(want) || p.Legs[0].ID != p.ID {
		t.Fatalf("legs: %+v", p.Legs)
	}
	for i, w := range want {
		l := p.Legs[i]
		if l.Amount != w.amount || l.Destination.Payment != w.payment || l.Rail != w.rail || l.SplitOf != p.ID {
			t.Errorf("leg %d: %d to %q by %s (split_of %q); want %d to %q by %s", i, l.Amount, l.Destination.Payment, l.Rail, l.SplitOf, w.amount, w.payment, w.rail)
		}
	}
	e.process()
	if got := e.get(p); got.Status != payout.StatusPaid {
		t.Errorf("card leg: %s", got.Status)
	}
	if w, _ := e.svc.Wallet(ctx, "cus_jane", "EUR"); w.Available != 5_000 {
		t.Errorf("wallet %d, want 50.00 (vouchers 20, wallet payment 10, winnings 20)", w.Available)
	}
	// The same request again: the same legs, nothing more reserved.
	again, err := e.svc.Create(ctx, e.merchant, keyed(splitReq(8_000), "split-1"))
	if err != nil || again.ID != p.ID || len(again.Legs) != 4 {
		t.Fatalf("replayed split: %+v %v", again, err)
	}
	// Read back (the console's payout page): the first leg with all legs,
	// a later leg alone.
	if got, err := e.svc.WithLegs(ctx, e.merchant, p.ID); err != nil || len(got.Legs) != 4 || got.Legs[3].ID != p.Legs[3].ID {
		t.Errorf("WithLegs(first): %d legs, %v", len(got.Legs), err)
	}
	if got, err := e.svc.WithLegs(ctx, e.merchant, p.Legs[2].ID); err != nil || len(got.Legs) != 0 || got.SplitOf != p.ID {
		t.Errorf("WithLegs(leg): %d legs, split of %s, %v", len(got.Legs), got.SplitOf, err)
	}
	if _, err := e.svc.WithLegs(ctx, "mer_other", p.ID); err == nil {
		t.Error("another merchant reads the split")
	}
	// The deposits are paid back: a second split is all winnings, here
	// to the payer's bank account.
	req2 := splitReq(1_500)
	req2.Destination.IBAN, req2.Destination.AccountHolder = ibanPaid, "Jane Doe"
	q, err := e.svc.Create(ctx, e.merchant, req2)
	if err != nil || len(q.Legs) != 1 || q.Legs[0].Destination.Type != payout.DestBankAccount || q.Legs[0].Rail != "sepa_test" {
		t.Fatalf("winnings to the bank: %+v %v", q, err)
	}
	if m := e.merchantAccount(); m.CreditsPosted-m.DebitsPosted-m.DebitsPending != 20_000-8_000-1_500 {
		t.Errorf("merchant balance: %+v", m)
	}
	e.check()
}

func keyed(r payout.CreateRequest, key string) payout.CreateRequest { r.RequestKey = key; return r }

// TestSplitRefused: a split beyond the merchant's balance, or whose
// winnings have nowhere to go, reserves no leg at all.
func TestSplitRefused(t *testing.T) {
	e := newSplitEnv(t)
	ctx := context.Background()
	_, err := e.svc.Create(ctx, e.merchant, splitReq(20_001))
	if ke := kassa.AsError(err); ke == nil || ke.Code != "balance_insufficient" {
		t.Fatalf("split over the balance: %v", err)
	}
	r := splitReq(7_000)
	r.Customer.ID = "player-7" // the merchant's own id: no wallet for the winnings
	_, err = e.svc.Create(ctx, e.merchant, r)
	if ke := kassa.AsError(err); ke == nil || ke.Code != "wallet_requires_kassa_account" {
		t.Fatalf("winnings without a wallet: %v", err)
	}
	r.Destination.IBAN = "DE00100100100000000000"
	_, err = e.svc.Create(ctx, e.merchant, r)
	if ke := kassa.AsError(err); ke == nil || ke.Code != "iban_checksum_invalid" {
		t.Fatalf("winnings to a bad IBAN: %v", err)
	}
	if m := e.merchantAccount(); m.DebitsPending != 0 {
		t.Fatalf("a refused split reserved %d", m.DebitsPending)
	}
	e.check()
}

// TestSplitRace: splits racing for the same deposits never pay one back
// beyond what is left of it, and a split that loses reserves nothing.
func TestSplitRace(t *testing.T) {
	e := newSplitEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Create(ctx, e.merchant, splitReq(2_500))
			if ke := kassa.AsError(err); err != nil && (ke == nil || (ke.Code != "amount_exceeds_deposit" && ke.Code != "limit_exceeded")) {
				t.Errorf("a losing split: %v", err)
			}
		}()
	}
	wg.Wait()
	for _, pay := range []string{"pay_3card", "pay_2voucher", "pay_1wallet"} {
		lim := map[string]money.Amount{"pay_3card": 3_000, "pay_2voucher": 2_000, "pay_1wallet": 1_000}[pay]
		ps, _, err := e.svc.List(ctx, payout.Filter{MerchantID: e.merchant, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var sum money.Amount
		for _, p := range ps {
			if p.Destination.Payment == pay && p.Status.Counts() {
				sum += p.Amount
			}
		}
		if sum > lim {
			t.Errorf("%s paid back %d of %d", pay, sum, lim)
		}
	}
	e.check()
}

// TestDepositThenWithdraw: a payout of about what the payer deposited
// within a day (neither spent nor won) waits for review; winnings and an
// old deposit do not; a malformed client is refused.
func TestDepositThenWithdraw(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(50_000)
	now := e.clk.Now()
	deps := deposits{
		e.merchant + "/pay_new": {PaymentID: "pay_new", Method: payout.MethodVoucher, Currency: "EUR", Net: 3_000, PayerID: "cus_jane", Created: now.Add(-time.Hour)},
		e.merchant + "/pay_old": {PaymentID: "pay_old", Method: payout.MethodVoucher, Currency: "EUR", Net: 9_000, PayerID: "cus_jane", Created: now.Add(-72 * time.Hour)},
	}
	e.svc = payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, Deposits: deps, KYC: testKYC,
		Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank}})
	ctx := context.Background()
	req := bankReq(3_000, ibanPaid)
	req.Customer.ID = "cus_jane"
	p, err := e.svc.Create(ctx, e.merchant, req)
	if err != nil || p.Status != payout.StatusRequiresReview || !hasCheck(p, payout.CheckDepositWithdraw, payout.CheckReview) {
		t.Fatalf("a payout of the fresh deposit: %v %s %+v", err, p.Status, p.Checks)
	}
	req.Amount = 20_000 // winnings: far beyond what was deposited
	if p, err = e.svc.Create(ctx, e.merchant, req); err != nil || p.Status != payout.StatusPending {
		t.Fatalf("winnings: %v %s %+v", err, p.Status, p.Checks)
	}
	req.Client = payout.Client{IP: "not-an-ip"}
	if _, err := e.svc.Create(ctx, e.merchant, req); kassa.AsError(err) == nil || kassa.AsError(err).Param != "client.ip" {
		t.Fatalf("a bad client.ip: %v", err)
	}
	e.check()
}

func hasCheck(p payout.Payout, name, result string) bool {
	for _, c := range p.Checks {
		if c.Check == name && c.Result == result {
			return true
		}
	}
	return false
}
