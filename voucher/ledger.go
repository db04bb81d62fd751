package voucher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// fund creates the float account (on demand) and the vouchers' accounts
// and moves each voucher's face value from the float to it. Every id is
// deterministic, so a call whose outcome is unknown is simply repeated and
// what was committed answers "exists".
func (s *Service) fund(ctx context.Context, cur money.Currency, vs []Issued) error {
	accounts := make([]ledger.Account, 0, len(vs)+1)
	accounts = append(accounts, ledger.Account{ID: FloatAccountID(cur), Currency: cur})
	transfers := make([]ledger.Transfer, 0, len(vs))
	for _, v := range vs {
		accounts = append(accounts, ledger.Account{ID: AccountID(v.Serial), Currency: cur, Flags: ledger.DebitsMustNotExceedCredits})
		transfers = append(transfers, ledger.Transfer{
			ID: IssueTransferID(v.Serial), DebitAccountID: FloatAccountID(cur), CreditAccountID: AccountID(v.Serial),
			Amount: v.Amount, Currency: cur,
		})
	}
	if err := s.ledgerCall(ctx, "create accounts", func() ([]ledger.Result, error) {
		return s.ledger.CreateAccounts(ctx, LedgerOwner, accounts)
	}); err != nil {
		return err
	}
	return s.ledgerCall(ctx, "create transfers", func() ([]ledger.Result, error) {
		return s.ledger.CreateTransfers(ctx, LedgerOwner, transfers)
	})
}

// ledgerCall runs a ledger call, repeating it while the call as a whole
// fails (its outcome is then unknown), and insists that every event
// committed now or before.
func (s *Service) ledgerCall(ctx context.Context, what string, call func() ([]ledger.Result, error)) error {
	var err error
	for range ledgerAttemptsMax {
		var rs []ledger.Result
		rs, err = call()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrClosed) {
				break
			}
			continue
		}
		for i, r := range rs {
			if r.Code != ledger.OK && r.Code != ledger.Exists {
				return fmt.Errorf("ledger %s: event %d: %s", what, i, r.Code)
			}
		}
		return nil
	}
	return fmt.Errorf("ledger %s: %w", what, err)
}

// returnBalance moves what is available on an invalidated voucher back to
// the float. If a reservation is posted meanwhile the transfer exceeds the
// credits; the balance is then read again.
func (s *Service) returnBalance(ctx context.Context, v Voucher) error {
	for range ledgerAttemptsMax {
		a, err := s.account(ctx, v.Serial)
		if err != nil {
			return err
		}
		bal := available(a)
		if bal <= 0 {
			return nil
		}
		rs, err := s.ledger.CreateTransfers(ctx, LedgerOwner, []ledger.Transfer{{
			ID: InvalidateTransferID(v.Serial), DebitAccountID: AccountID(v.Serial),
			CreditAccountID: FloatAccountID(v.Currency), Amount: bal, Currency: v.Currency,
		}})
		if err != nil {
			return fmt.Errorf("voucher: return balance of %s: %w", v.Serial, err)
		}
		switch rs[0].Code {
		case ledger.OK, ledger.Exists:
			return nil
		case ledger.ExceedsCredits:
			continue
		case ledger.ExistsWithDifferentAmount:
			// The balance went back before; what is there now came back
			// later (a voided reservation). It stays on the invalidated
			// voucher, where nobody can spend it, for reconciliation.
			s.log.WarnContext(ctx, "balance on invalidated voucher after its return transfer", "serial", v.Serial, "amount", int64(bal))
			return nil
		default:
			return fmt.Errorf("voucher: return balance of %s: ledger %s", v.Serial, rs[0].Code)
		}
	}
	return fmt.Errorf("voucher: return balance of %s: balance kept changing", v.Serial)
}

// account returns the voucher's ledger account; a voucher whose funding
// never happened has an empty one.
func (s *Service) account(ctx context.Context, serial string) (ledger.Account, error) {
	a, err := s.ledger.Account(ctx, LedgerOwner, AccountID(serial))
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.Account{}, nil
	} else if err != nil {
		return a, fmt.Errorf("voucher: ledger account of %s: %w", serial, err)
	}
	return a, nil
}

// available is what the account holder may still spend. The ledger keeps
// it from going negative; a negative value is a broken invariant.
func available(a ledger.Account) money.Amount {
	bal := a.CreditsPosted - a.DebitsPosted - a.DebitsPending
	if bal < 0 && a.Flags&ledger.DebitsMustNotExceedCredits != 0 {
		panic(fmt.Sprintf("voucher: account %s has a negative balance %d", a.ID, bal))
	}
	return bal
}

func marshal(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("voucher: marshal event data: %w", err)
	}
	return b, nil
}
