package payout

import (
	"context"
	"errors"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// The wallet of a payer's Kassa account (cus_...): one ledger account per
// currency, wallet:<cus>:<CUR>, flagged so that its debits never exceed
// its credits (it cannot go negative). Payouts to the wallet credit it
// (payout_clearing → wallet); the checkout method kassa_balance and
// withdrawals will debit it.

// WalletBalance is a payer's wallet in one currency: Available is what
// may be spent (posted credits less posted and pending debits), Pending
// what is reserved by spending not yet final.
type WalletBalance struct {
	Customer  string         `json:"customer"`
	Currency  money.Currency `json:"currency"`
	Available money.Amount   `json:"available"`
	Pending   money.Amount   `json:"pending"`
}

// Wallet returns a payer's wallet balance in cur (zero when the wallet
// has never been credited).
func (s *Service) Wallet(ctx context.Context, customerID string, cur money.Currency) (WalletBalance, error) {
	w := WalletBalance{Customer: customerID, Currency: cur}
	a, err := s.led.Account(ctx, "", WalletAccount(customerID, cur))
	if errors.Is(err, ledger.ErrNotFound) {
		return w, nil
	} else if err != nil {
		return WalletBalance{}, err
	}
	w.Available = a.CreditsPosted - a.DebitsPosted - a.DebitsPending
	w.Pending = a.DebitsPending
	return w, nil
}

// WalletEntry is one movement of a wallet.
type WalletEntry struct {
	Transfer string       `json:"transfer"`
	Amount   money.Amount `json:"amount"` // positive: in; negative: out
	Pending  bool         `json:"pending"`
	Created  string       `json:"created"`
}

// WalletHistory returns up to limit movements of a payer's wallet in cur,
// oldest first, after the transfer startingAfter ("" from the first).
func (s *Service) WalletHistory(ctx context.Context, customerID string, cur money.Currency, startingAfter string, limit int) ([]WalletEntry, bool, error) {
	if limit < 1 || limit > ledger.PageLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ledger.PageLimitMax)
	}
	acct := WalletAccount(customerID, cur)
	ts, more, err := s.led.AccountTransfers(ctx, "", acct, startingAfter, limit)
	if errors.Is(err, ledger.ErrNotFound) {
		return []WalletEntry{}, false, nil
	} else if err != nil {
		return nil, false, err
	}
	out := make([]WalletEntry, 0, len(ts))
	for _, t := range ts {
		e := WalletEntry{Transfer: t.ID, Amount: t.Amount, Pending: t.Flags&ledger.FlagPending != 0,
			Created: t.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")}
		if t.DebitAccountID == acct {
			e.Amount = -e.Amount
		}
		out = append(out, e)
	}
	return out, more, nil
}
