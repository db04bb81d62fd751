package business

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// Balance transaction types.
const (
	TypeCharge     = "charge"
	TypeRefund     = "refund"
	TypePayout     = "payout"
	TypeSettlement = "settlement"
	TypeFee        = "fee"
	TypeAdjustment = "adjustment"
	TypeCredit     = "credit"
)

// Types lists the types in the order reports show them.
var Types = []string{TypeCharge, TypeRefund, TypePayout, TypeSettlement, TypeFee, TypeAdjustment, TypeCredit}

// Txn is one movement of a merchant's balance (txn_): Net is what it
// changed the balance by (Amount less Fee).
type Txn struct {
	ID          string
	MerchantID  string
	Type        string
	Amount      money.Amount
	Fee         money.Amount
	Net         money.Amount
	Currency    money.Currency
	Source      string // pay_…, re_…, po_…, stl_…, or the ledger transfer
	AvailableOn time.Time
	Created     time.Time
	TransferID  string // the ledger transfer (platform namespace)
	LedgerLeaf  int64
	Settlement  string // the settlement that paid it out, "" none
}

// TxnID derives a balance transaction's id from its ledger transfer's.
func TxnID(transferID string) string { return id.Derived("txn", transferID) }

// TxnFilter selects a page of a merchant's balance transactions, newest
// first.
type TxnFilter struct {
	MerchantID    string
	Type          string
	Settlement    string
	CreatedGTE    time.Time // zero: none
	CreatedLT     time.Time // zero: none
	StartingAfter string
	Limit         int
}

// FeeUpdate puts a capture's fee (and its hold's available_on) on the
// charge it belongs to: the latest charge of Source at or before Leaf.
type FeeUpdate struct {
	Source      string
	Leaf        int64
	Fee         money.Amount // -1: unchanged
	AvailableOn time.Time    // zero: unchanged
	// Orphan is the fee as a transaction of its own, written when no
	// charge of Source precedes it.
	Orphan *Txn
}

// SyncBatch is what one sync step derived from leaves [From, To).
type SyncBatch struct {
	From, To int64
	Txns     []Txn
	Updates  []FeeUpdate
}

// pendingAmount looks up what a pending transfer reserved (for a partly
// posted debit, whose remainder goes back to the balance).
type pendingAmount func(ctx context.Context, id string) (money.Amount, error)

// derive turns one platform ledger transfer into at most one balance
// transaction, or an update of the charge it belongs to. The rules
// (docs/business.md): a posted transfer moves the balance by its amount;
// a pending one only when it takes money out (a reserve: refunds,
// payouts, settlements); posting a pending credit (a capture) brings it
// in; voiding (or the ledger expiring) a pending debit gives it back.
// Transfers between a merchant's balance and its hold account are not
// movements of the balance (money waiting to be available is in it).
func derive(ctx context.Context, t ledger.Transfer, pend pendingAmount) (*Txn, *FeeUpdate, error) {
	if t.Owner != "" {
		return nil, nil, nil
	}
	dm, dcur, dOK := merchantOf(t.DebitAccountID)
	cm, ccur, cOK := merchantOf(t.CreditAccountID)
	if !dOK && !cOK {
		return nil, nil, nil
	}
	if strings.HasPrefix(t.DebitAccountID, "merchant_hold:") || strings.HasPrefix(t.CreditAccountID, "merchant_hold:") {
		// A hold: the charge becomes available when it ends.
		if t.Flags&ledger.FlagPending != 0 && t.Timeout > 0 {
			src, _ := sourceOf(t.ID)
			return nil, &FeeUpdate{Source: src, Leaf: t.LeafIndex, Fee: -1, AvailableOn: t.Timestamp.Add(t.Timeout)}, nil
		}
		return nil, nil, nil
	}
	var amount money.Amount
	merchantID, cur := cm, ccur
	switch {
	case t.Flags&ledger.FlagPending != 0:
		if dOK {
			amount, merchantID, cur = -t.Amount, dm, dcur
		}
	case t.Flags&ledger.FlagPostPending != 0:
		if cOK {
			amount = t.Amount
		} else if dOK {
			// A debit reserve posted: gone at the reserve already, except
			// a remainder a partial post gives back.
			reserved, err := pend(ctx, t.PendingID)
			if err != nil {
				return nil, nil, err
			}
			amount, merchantID, cur = reserved-t.Amount, dm, dcur
		}
	case t.Flags&ledger.FlagVoidPending != 0:
		if dOK {
			amount, merchantID, cur = t.Amount, dm, dcur
		}
	default:
		if cOK {
			amount = t.Amount
		} else {
			amount, merchantID, cur = -t.Amount, dm, dcur
		}
	}
	if amount == 0 {
		return nil, nil, nil
	}
	src, typ := sourceOf(strings.TrimPrefix(t.ID, ledger.ExpiryIDPrefix))
	if typ == TypeFee {
		// A capture's fee: shown on its charge, and a transaction of its
		// own only when no charge precedes it (not booked by Kassa).
		return nil, &FeeUpdate{Source: src, Leaf: t.LeafIndex, Fee: -amount, Orphan: &Txn{ID: TxnID(t.ID),
			MerchantID: merchantID, Type: TypeFee, Amount: amount, Net: amount, Currency: cur, Source: src,
			AvailableOn: t.Timestamp, Created: t.Timestamp, TransferID: t.ID, LedgerLeaf: t.LeafIndex}}, nil
	}
	if typ == "" {
		typ = TypeCredit
		if amount < 0 {
			typ = TypeAdjustment
		}
	}
	x := &Txn{ID: TxnID(t.ID), MerchantID: merchantID, Type: typ, Amount: amount, Net: amount, Currency: cur,
		Source: src, AvailableOn: t.Timestamp, Created: t.Timestamp, TransferID: t.ID, LedgerLeaf: t.LeafIndex}
	if typ == TypeSettlement && t.Flags&ledger.FlagPending != 0 {
		x.Settlement = src // a settlement's own reserve is settled by itself
	}
	return x, nil, nil
}

// merchantOf parses merchant:<id>:<CUR>.
func merchantOf(acct string) (string, money.Currency, bool) {
	rest, ok := strings.CutPrefix(acct, "merchant:")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], money.Currency(rest[i+1:]), true
}

// sourceOf names the object behind a transfer id and its type:
// pay:<id>:… (a charge, or its fee), re_…:… (a refund), po_…:… (a
// payout), stl_…:… (a settlement). Others: "" (a credit or an
// adjustment, by sign), the transfer itself the source.
func sourceOf(transferID string) (string, string) {
	if rest, ok := strings.CutPrefix(transferID, "pay:"); ok {
		pid, tail, _ := strings.Cut(rest, ":")
		if tail == "fee" {
			return pid, TypeFee
		}
		return pid, TypeCharge
	}
	head, _, _ := strings.Cut(transferID, ":")
	switch {
	case strings.HasPrefix(head, "re_"):
		return head, TypeRefund
	case strings.HasPrefix(head, "po_"):
		return head, TypePayout
	case strings.HasPrefix(head, "stl_"):
		return head, TypeSettlement
	}
	return transferID, ""
}

// Sync derives the balance transactions of every ledger leaf committed
// so far, in steps (each one store transaction that advances the
// watermark by compare-and-set, so several nodes syncing at once write
// each row once). Reads call it first: what they show includes every
// movement committed before they began.
func (s *Service) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for range 1 << 20 { // bounded: each step advances or returns
		from, err := s.store.SyncState(ctx)
		if err != nil {
			return err
		}
		ts, to, err := s.store.LedgerTransfers(ctx, from, SyncStepLeaves)
		if err != nil {
			return err
		}
		if to <= from {
			return nil
		}
		b := SyncBatch{From: from, To: to}
		charges := map[string][]int{} // source → its charges in b.Txns
		for _, t := range ts {
			x, u, err := derive(ctx, t, func(ctx context.Context, id string) (money.Amount, error) {
				return s.store.PendingAmount(ctx, id)
			})
			if err != nil {
				return fmt.Errorf("balance transactions at leaf %d: %w", t.LeafIndex, err)
			}
			if x != nil {
				if x.Type == TypeCharge {
					charges[x.Source] = append(charges[x.Source], len(b.Txns))
				}
				b.Txns = append(b.Txns, *x)
			}
			if u != nil && !applyInBatch(b.Txns, charges[u.Source], *u) {
				b.Updates = append(b.Updates, *u)
			}
		}
		if err := s.store.ApplySync(ctx, b); err != nil {
			return err
		}
	}
	return fmt.Errorf("balance transactions: sync did not catch up")
}

// applyInBatch puts u on the charges of its source derived in the same
// step (a capture's fee and hold follow its transfers in one ledger call,
// so this is the usual case); false when none is there and the store
// must find the charge.
func applyInBatch(txns []Txn, charges []int, u FeeUpdate) bool {
	if len(charges) == 0 {
		return false
	}
	if !u.AvailableOn.IsZero() {
		for _, i := range charges {
			txns[i].AvailableOn = u.AvailableOn
		}
	}
	if u.Fee >= 0 {
		last := &txns[charges[len(charges)-1]]
		last.Fee, last.Net = u.Fee, last.Amount-u.Fee
	}
	return true
}

// Txns lists a page of a merchant's balance transactions, newest first.
func (s *Service) Txns(ctx context.Context, f TxnFilter) ([]Txn, bool, error) {
	if f.Limit < 1 || f.Limit > ListLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ListLimitMax)
	}
	if f.Type != "" && !validType(f.Type) {
		return nil, false, kassa.Invalid("type", "type_invalid", "type must be one of %s", strings.Join(Types, ", "))
	}
	if err := s.Sync(ctx); err != nil {
		return nil, false, err
	}
	return s.store.Txns(ctx, f)
}

// Txn returns one of a merchant's balance transactions.
func (s *Service) Txn(ctx context.Context, merchantID, id string) (Txn, error) {
	if err := s.Sync(ctx); err != nil {
		return Txn{}, err
	}
	return s.store.Txn(ctx, merchantID, id)
}

func validType(t string) bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}
