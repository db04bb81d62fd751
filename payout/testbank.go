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
type TestBank struct {
	SettleDelay time.Duration // default 24h
	ReturnDelay time.Duration // default 72h
	Clock       func() time.Time

	mu        sync.Mutex
	transfers map[string]*bankTransfer
	lost      map[string]bool // keys whose one lost answer was used
	submits   map[string]int  // Submit calls per key, for tests
}

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
	return &TestBank{SettleDelay: 24 * time.Hour, ReturnDelay: 72 * time.Hour, Clock: clock,
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
	outcome := in.IBAN[len(in.IBAN)-1]
	if outcome == '5' && !b.lost[in.Key] {
		b.lost[in.Key] = true
		return RailStatus{}, ErrTestBankTimeout
	}
	t := &bankTransfer{in: in, received: b.Clock()}
	b.transfers[in.Key] = t
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
