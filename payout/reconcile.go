package payout

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kassa/kassa/ledger"
)

// Mismatch is one disagreement between a payout and the ledger.
type Mismatch struct {
	Payout  string `json:"payout"`
	Problem string `json:"problem"`
}

// reconcilePage is how many payouts one store call returns.
const reconcilePage = 500

// Sums returns, per merchant ledger account, the open and paid payouts:
// reconciliation of merchant accounts counts them beside payments.
func (s *Service) Sums(ctx context.Context) (map[string]Sums, error) {
	sums, err := s.store.PayoutSums(ctx)
	for acct := range sums {
		if strings.HasPrefix(acct, merchantAccount(WalletMerchant, "")) {
			delete(sums, acct) // withdrawals: from wallets, not a merchant account
		}
	}
	return sums, err
}

// Reconcile proves every payout agrees with its ledger transfers: the
// reserve is there with its amount and accounts, pending while the payout
// is open, posted when paid or returned (and the return booked), voided
// when it failed or was canceled; a wallet payout credited the wallet.
func (s *Service) Reconcile(ctx context.Context) (checked int, ms []Mismatch, err error) {
	after := ""
	for {
		ps, err := s.store.AllPayouts(ctx, after, reconcilePage)
		if err != nil {
			return checked, ms, err
		}
		for _, p := range ps {
			checked++
			if problem, err := s.checkPayout(ctx, p); err != nil {
				return checked, ms, fmt.Errorf("payout %s: %w", p.ID, err)
			} else if problem != "" {
				ms = append(ms, Mismatch{Payout: p.ID, Problem: problem})
			}
		}
		if len(ps) < reconcilePage {
			return checked, ms, nil
		}
		after = ps[len(ps)-1].ID
	}
}

func (s *Service) checkPayout(ctx context.Context, p Payout) (string, error) {
	st, err := s.led.PendingStatus(ctx, "", reserveID(p))
	if errors.Is(err, ledger.ErrNotFound) {
		return "its reserve is not in the ledger", nil
	} else if err != nil {
		return "", err
	}
	if st.Amount != p.Amount || st.DebitAccountID != sourceAccount(p) ||
		st.CreditAccountID != clearingAccount(p.Currency) {
		return fmt.Sprintf("its reserve is %d from %s to %s, the payout says %d", st.Amount, st.DebitAccountID, st.CreditAccountID, p.Amount), nil
	}
	want := map[Status]ledger.PendingState{StatusPending: ledger.StatePending, StatusRequiresReview: ledger.StatePending,
		StatusInTransit: ledger.StatePending, StatusPaid: ledger.StatePosted, StatusReturned: ledger.StatePosted,
		StatusFailed: ledger.StateVoided, StatusCanceled: ledger.StateVoided}[p.Status]
	if st.State != want {
		return fmt.Sprintf("it is %s, its reserve is %s", p.Status, st.State), nil
	}
	check := func(id, debit, credit string) (string, error) {
		t, _, err := s.led.Transfer(ctx, "", id)
		if errors.Is(err, ledger.ErrNotFound) {
			return fmt.Sprintf("it is %s, transfer %s is not in the ledger", p.Status, id), nil
		} else if err != nil {
			return "", err
		}
		if t.Amount != p.Amount || t.DebitAccountID != debit || t.CreditAccountID != credit {
			return fmt.Sprintf("transfer %s moved %d from %s to %s", id, t.Amount, t.DebitAccountID, t.CreditAccountID), nil
		}
		return "", nil
	}
	if p.Status == StatusPaid && p.Rail == RailWallet {
		return check(p.ID+":wallet", clearingAccount(p.Currency), WalletAccount(p.Customer.ID, p.Currency))
	}
	if p.Status == StatusReturned {
		return check(p.ID+":return", clearingAccount(p.Currency), sourceAccount(p))
	}
	return "", nil
}
