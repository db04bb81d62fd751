package payout_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

// fillWallet pays amount from the merchant to cus's wallet (a wallet
// payout), as winnings or a top-up would fill it.
func (e *env) fillWallet(cus string, amount money.Amount) {
	e.t.Helper()
	e.fund(amount)
	req := bankReq(amount, "")
	req.Customer.ID = cus
	req.Destination = payout.Destination{Type: payout.DestWallet}
	if p, err := e.svc.Create(context.Background(), e.merchant, req); err != nil || p.Status != payout.StatusPaid {
		e.t.Fatalf("fill wallet: %+v %v", p, err)
	}
}

func (e *env) walletAvailable(cus string) money.Amount {
	e.t.Helper()
	w, err := e.svc.Wallet(context.Background(), cus, "EUR")
	if err != nil {
		e.t.Fatal(err)
	}
	return w.Available
}

func withdrawBank(cus string, amount money.Amount, iban string) payout.WithdrawRequest {
	return payout.WithdrawRequest{CustomerID: cus, Amount: amount, Currency: "EUR",
		Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: iban}}
}

// TestWithdraw: a payer withdraws from their wallet to a bank account in
// their verified name; the wallet is reserved at once, the bank pays,
// and a returned transfer brings the money back to the wallet. Ledger
// and reconciliation agree after each step.
func TestWithdraw(t *testing.T) {
	forEachBackend(t, options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.fillWallet("cus_jane", 10_000)
		p, err := e.svc.Withdraw(ctx, withdrawBank("cus_jane", 3_000, ibanPaid))
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payout.StatusPending || p.MerchantID != payout.WalletMerchant || p.Destination.AccountHolder != "Jane Doe" {
			t.Fatalf("withdrawal: %+v", p)
		}
		if got := e.walletAvailable("cus_jane"); got != 7_000 {
			t.Fatalf("wallet after reserving 30.00: %d available", got)
		}
		e.check()
		r, err := e.svc.Withdraw(ctx, withdrawBank("cus_jane", 2_000, ibanReturned))
		if err != nil {
			t.Fatal(err)
		}
		// A second bank account of the same payer is a changed
		// destination: held for review, still reserved.
		if r.Status != payout.StatusRequiresReview {
			t.Fatalf("withdrawal to a second account: %s", r.Status)
		}
		if _, err := e.svc.Approve(ctx, payout.WalletMerchant, r.ID, "operator", false); err != nil {
			t.Fatal(err)
		}
		e.process()
		e.clk.Advance(25 * time.Hour)
		e.process()
		if got, _ := e.svc.Get(ctx, payout.WalletMerchant, p.ID); got.Status != payout.StatusPaid {
			t.Fatalf("withdrawal after settling: %s", got.Status)
		}
		if got := e.walletAvailable("cus_jane"); got != 5_000 {
			t.Fatalf("wallet after two withdrawals paid: %d", got)
		}
		e.check()
		e.clk.Advance(73 * time.Hour)
		e.process()
		if got, _ := e.svc.Get(ctx, payout.WalletMerchant, r.ID); got.Status != payout.StatusReturned {
			t.Fatalf("withdrawal to the returning IBAN: %s", got.Status)
		}
		if got := e.walletAvailable("cus_jane"); got != 7_000 {
			t.Fatalf("wallet after the return: %d, want the 20.00 back", got)
		}
		ws, err := e.svc.Withdrawals(ctx, "cus_jane", 10)
		if err != nil || len(ws) != 2 {
			t.Fatalf("withdrawals: %d %v", len(ws), err)
		}
		if m := e.merchantAccount(); m.DebitsPending != 0 {
			t.Errorf("the merchant's balance moved: %+v", m)
		}
		e.check()
	})
}

// TestWithdrawRefused: more than the wallet holds, a bad IBAN, another
// destination type, an unverified payer, a card that is not theirs:
// each a problem with code and param, and nothing reserved.
func TestWithdrawRefused(t *testing.T) {
	forEachBackend(t, options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.fillWallet("cus_jane", 1_000)
		tests := []struct {
			name        string
			req         payout.WithdrawRequest
			code, param string
		}{
			{"over the balance", withdrawBank("cus_jane", 1_001, ibanPaid), "balance_insufficient", "amount"},
			{"bad checksum", withdrawBank("cus_jane", 500, "DE00100100100000000000"), "iban_checksum_invalid", "destination.iban"},
			{"wallet", payout.WithdrawRequest{CustomerID: "cus_jane", Amount: 500, Currency: "EUR",
				Destination: payout.Destination{Type: payout.DestWallet}}, payout.CodeWithdrawDestination, "destination.type"},
			{"unverified", withdrawBank("cus_new", 500, ibanPaid), payout.CodeWithdrawKYC, "customer.id"},
			{"unknown", withdrawBank("cus_nobody", 500, ibanPaid), "customer_not_found", ""},
			{"no payer", withdrawBank("", 500, ibanPaid), "customer_required", "customer.id"},
			{"card without deposits", payout.WithdrawRequest{CustomerID: "cus_jane", Amount: 500, Currency: "EUR",
				Destination: payout.Destination{Type: payout.DestCard, Payment: "pay_x"}}, "destination_unsupported", "destination.type"},
			{"currency", payout.WithdrawRequest{CustomerID: "cus_jane", Amount: 500, Currency: "USD",
				Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: ibanPaid}}, "currency_mismatch", "currency"},
		}
		for _, tt := range tests {
			_, err := e.svc.Withdraw(ctx, tt.req)
			ke := kassa.AsError(err)
			if ke == nil || ke.Code != tt.code || (tt.param != "" && ke.Param != tt.param) {
				t.Errorf("%s: %v; want %s on %s", tt.name, err, tt.code, tt.param)
			}
		}
		if got := e.walletAvailable("cus_jane"); got != 1_000 {
			t.Errorf("wallet after refusals: %d", got)
		}
		e.check()
	})
}

// TestWithdrawRace: withdrawals racing for one wallet never take it
// below zero; what they reserve is exactly what the wallet held.
func TestWithdrawRace(t *testing.T) {
	forEachBackend(t, options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.fillWallet("cus_jane", 5_000)
		var wg sync.WaitGroup
		var ok atomic.Int64
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.Withdraw(ctx, withdrawBank("cus_jane", 1_000, ibanPaid)); err == nil {
					ok.Add(1)
				} else if ke := kassa.AsError(err); ke == nil || ke.Code != "balance_insufficient" {
					t.Errorf("a losing withdrawal: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 5 {
			t.Errorf("%d withdrawals of 10.00 from 50.00 went through, want 5", ok.Load())
		}
		w := e.account(payout.WalletAccount("cus_jane", "EUR"))
		if w.DebitsPending+w.DebitsPosted > w.CreditsPosted {
			t.Errorf("wallet overdrawn: %+v", w)
		}
		e.check()
	})
}

// TestWithdrawOnlyByThePayer: the platform merchant's key (the
// operator's) cannot make payouts out of payers' wallets through the
// API; only Withdraw, the payer's own request, can.
func TestWithdrawOnlyByThePayer(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fillWallet("cus_jane", 5_000)
	req := bankReq(1_000, ibanPaid)
	req.Customer.ID = "cus_jane"
	_, err := e.svc.Create(context.Background(), payout.WalletMerchant, req)
	if ke := kassa.AsError(err); ke == nil || ke.Code != "platform_merchant" || ke.Kind != kassa.EForbidden {
		t.Fatalf("a payout of the platform merchant through the API: %v", err)
	}
	if got := e.walletAvailable("cus_jane"); got != 5_000 {
		t.Fatalf("wallet: %d", got)
	}
}
