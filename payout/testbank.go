package payout

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kassa/kassa/money"
)

// TestBank is a SEPA-style bank for tests and test integrations. It
// behaves like a real credit transfer scheme: it checks the IBAN (country
// format and mod-97) and takes EUR only, accepts a transfer at once and
// settles it later (SettleDelay after it was received, by its clock), and
// may send a paid transfer back days later. The outcome is chosen by the
// last digit of the IBAN's account number (docs/payouts.md lists test
// IBANs for each):
//
//	0, 6–9  paid
//	1       failed at settlement, AC04 (account closed)
//	2       failed at settlement, AG01 (transaction forbidden)
//	3       paid, then returned ReturnDelay later, MD07 (account holder deceased)
//	4       Submit's answer is lost once (the bank received it): Query finds it
//	5       Submit is lost once before the bank receives it: Query answers
//	        ErrNotReceived, a second Submit goes through
//
// A Submit repeated under a key returns the transfer it made, whatever the
// instruction says: the key is the idempotency key.
//
// It keeps at most TransfersMax transfers in memory. At the limit, a new
// transfer first evicts the oldest ones whose outcome is final (failed,
// returned, or paid and past its return window, ReturnDelay after
// settling, when its IBAN returns); when none is final yet, Submit
// answers ErrTestBankFull, an unknown outcome the worker tries again
// later. A settled transfer the bank forgot is answered ErrNotReceived
// by Query; the worker treats a paid payout so as nothing new.
type TestBank struct {
	SettleDelay  time.Duration // default 24h
	ReturnDelay  time.Duration // default 72h
	TransfersMax int           // default TestBankTransfersMax
	Clock        func() time.Time

	mu        sync.Mutex
	transfers map[string]*bankTransfer
	order     []string        // keys of transfers, oldest first
	lost      map[string]bool // keys whose one lost answer was used
	submits   map[string]int  // Submit calls per key, for tests
}

// TestBankTransfersMax is the default bound of the test bank's memory.
const TestBankTransfersMax = 100_000

// ErrTestBankFull is Submit's answer while the test bank holds
// TransfersMax transfers none of which is final.
var ErrTestBankFull = errors.New("testbank: too many unsettled transfers; try again later")

type bankTransfer struct {
	in       Instruction
	received time.Time
}

// NewTestBank returns a test bank with default delays on clock (nil:
// time.Now).
func NewTestBank(clock func() time.Time) *TestBank {
	if clock == nil {
		clock = time.Now
	}
	return &TestBank{SettleDelay: 24 * time.Hour, ReturnDelay: 72 * time.Hour, TransfersMax: TestBankTransfersMax, Clock: clock,
		transfers: map[string]*bankTransfer{}, lost: map[string]bool{}, submits: map[string]int{}}
}

var _ Rail = (*TestBank)(nil)

// Name is the rail's name on payouts.
func (b *TestBank) Name() string { return "sepa_test" }

// ErrTestBankTimeout is the error of a Submit whose answer the test bank
// "lost".
var ErrTestBankTimeout = errors.New("testbank: no answer (timeout)")

// Submit receives a credit transfer.
func (b *TestBank) Submit(ctx context.Context, in Instruction) (RailStatus, error) {
	if err := ctx.Err(); err != nil {
		return RailStatus{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submits[in.Key]++
	if t := b.transfers[in.Key]; t != nil {
		return b.status(t), nil
	}
	if code := ValidateIBAN(in.IBAN); code != "" {
		return RailStatus{}, &RailError{Code: code, Message: "the IBAN is not valid"}
	}
	if in.Currency != "EUR" {
		return RailStatus{}, &RailError{Code: "currency_unsupported", Message: "SEPA carries EUR only"}
	}
	if in.Amount <= 0 || in.Amount > 99_999_999_999 {
		return RailStatus{}, &RailError{Code: "AM02", Message: "amount not allowed"}
	}
	if !b.evict() {
		delete(b.submits, in.Key)
		return RailStatus{}, ErrTestBankFull
	}
	outcome := in.IBAN[len(in.IBAN)-1]
	if outcome == '5' && !b.lost[in.Key] {
		b.lost[in.Key] = true
		return RailStatus{}, ErrTestBankTimeout
	}
	t := &bankTransfer{in: in, received: b.Clock()}
	b.transfers[in.Key] = t
	b.order = append(b.order, in.Key)
	if outcome == '4' && !b.lost[in.Key] {
		b.lost[in.Key] = true
		return RailStatus{}, ErrTestBankTimeout
	}
	return b.status(t), nil
}

// Query reports a transfer by key.
func (b *TestBank) Query(ctx context.Context, key string) (RailStatus, error) {
	if err := ctx.Err(); err != nil {
		return RailStatus{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.transfers[key]
	if t == nil {
		return RailStatus{}, ErrNotReceived
	}
	return b.status(t), nil
}

// Submits returns how many times Submit was called under key.
func (b *TestBank) Submits(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.submits[key]
}

// Received returns how many transfers the bank holds and their total.
func (b *TestBank) Received() (n int, total money.Amount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.transfers {
		n++
		total += t.in.Amount
	}
	return n, total
}

// evict makes room for one more transfer: it forgets the oldest final
// transfers while the bank is at TransfersMax. It reports whether there
// is room. b.mu is held.
func (b *TestBank) evict() bool {
	limit := b.TransfersMax
	if limit <= 0 {
		limit = TestBankTransfersMax
	}
	// Keys with a submission but no transfer (refused, or lost before
	// the bank) are bounded with the transfers.
	for len(b.submits) > 2*limit {
		for k := range b.submits {
			if b.transfers[k] == nil {
				delete(b.submits, k)
				delete(b.lost, k)
				break
			}
		}
	}
	if len(b.transfers) < limit {
		return true
	}
	kept := b.order[:0]
	for i, k := range b.order {
		if len(b.transfers) < limit {
			kept = append(kept, b.order[i:]...)
			break
		}
		if b.final(b.transfers[k]) {
			delete(b.transfers, k)
			delete(b.lost, k)
			delete(b.submits, k)
			continue
		}
		kept = append(kept, k)
	}
	clear(b.order[len(kept):])
	b.order = kept
	return len(b.transfers) < limit
}

// final reports whether t's outcome can no longer change.
func (b *TestBank) final(t *bankTransfer) bool {
	switch st := b.status(t); st.State {
	case RailFailed, RailReturned:
		return true
	case RailPaid:
		return t.in.IBAN[len(t.in.IBAN)-1] != '3'
	}
	return false
}

func (b *TestBank) status(t *bankTransfer) RailStatus {
	now := b.Clock()
	settle := t.received.Add(b.SettleDelay)
	st := RailStatus{State: RailAccepted, ArrivalEstimate: settle}
	if now.Before(settle) {
		return st
	}
	switch t.in.IBAN[len(t.in.IBAN)-1] {
	case '1':
		return RailStatus{State: RailFailed, Reason: "AC04", Message: "account closed", ArrivalEstimate: settle}
	case '2':
		return RailStatus{State: RailFailed, Reason: "AG01", Message: "transaction forbidden on this account", ArrivalEstimate: settle}
	case '3':
		if !now.Before(settle.Add(b.ReturnDelay)) {
			return RailStatus{State: RailReturned, Reason: "MD07", Message: "account holder deceased", ArrivalEstimate: settle}
		}
	}
	return RailStatus{State: RailPaid, ArrivalEstimate: settle}
}
