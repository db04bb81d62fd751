package payment

// Payment methods: one seam, many methods.
//
// The lifecycle (lifecycle.go, refund.go, risk.go, reconcile.go) owns the
// state machine: states, events, the merchant's ledger account, risk
// decisions, expiry, and the transaction that writes a transition's
// ledger transfers with the payment and its events. A Method owns the
// payer's instrument: it reads it from a confirmation, says what risk
// sees of it, authorizes, captures, voids and refunds on it (calling an
// outside party such as an acquirer when it has one), and says what each
// step books in the ledger. The lifecycle never asks which method a
// payment uses; it asks the method registered under the payment's
// MethodType.
//
// Adding a method touches its own file (an init that calls
// RegisterMethod), its fragment of the hosted page (package web) and its
// docs. docs/architecture.md ("Payment methods") has the walk-through.

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// Method is one way to pay. Its methods get the Service they run in; a
// method of another package uses only its exported parts (Ledger).
// Errors meant for the caller are kassa.Error values: a payer's mistake
// is EInvalid (the lifecycle scores it as a failed attempt when the
// RiskView says what was tried).
type Method interface {
	// Name is the method's payment_method.type in the API, on the hosted
	// page and in Payment.MethodType ("voucher", "card"). It never
	// changes once payments use it.
	Name() string
	// Enabled returns nil when s can take payments with the method (a
	// card needs a vault and an acquirer), else a kassa EInvalid error on
	// payment_method.type.
	Enabled(s *Service) error
	// Accounts are the platform ledger accounts (owner "") an
	// authorization in cur books against, besides the merchant's; the
	// service creates them once per process, beside the risk score.
	Accounts(cur money.Currency) []ledger.Account
	// Resolve reads the payer's instrument from a confirmation of p.
	// Instrument.Risk is filled as far as it got, also with an error, so
	// a failed attempt is scored on what it tried.
	Resolve(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Instrument, error)
	// Recheck looks again, after a risk challenge passed, at the
	// instrument p holds: the failure code that stops the payment ("" it
	// may still pay) and what risk's block lists should look at.
	Recheck(ctx context.Context, s *Service, p Payment) (failure string, view RiskView, err error)
	// Authorize authorizes next.Amount on the instrument recorded on next
	// (p is the payment as stored). hold: the money stays pending (manual
	// capture, or held for review); else it is captured at once, and the
	// method records its captured share on next. See Authorization.
	Authorize(ctx context.Context, s *Service, p Payment, next *Payment, hold bool) (Authorization, error)
	// Capture captures amount of an authorized p (calling its outside
	// party first, if any) and returns the ledger transfers that post the
	// captured part of its authorization and void the rest; it records its
	// captured share on next.
	Capture(ctx context.Context, s *Service, p Payment, amount money.Amount, next *Payment) ([]ledger.Transfer, error)
	// Void releases an authorized p's money (at the outside party first,
	// if any) and returns the transfers that void its authorization. They
	// are not linked: one the ledger already expired is released all the
	// same.
	Void(ctx context.Context, s *Service, p Payment) ([]ledger.Transfer, error)
	// Refund returns r.Amount of captured p to the payer: the ledger
	// transfers it books now (r.ID is the refund's id; transfer ids start
	// with it). It records its refunded share on next. A method whose
	// refund waits for an outside party sets r.Status to RefundPending
	// and r.AcquirerKey and returns a pending transfer; the lifecycle then
	// sends it (refund.go).
	Refund(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, error)
	// Payout pays amount of captured p back out to the instrument that
	// paid it (closed loop). ErrPayoutUnsupported when the method cannot.
	Payout(ctx context.Context, s *Service, p Payment, amount money.Amount) error
	// Check compares p with what it booked in the ledger (reconciliation)
	// and reports each disagreement through bad.
	Check(ctx context.Context, s *Service, p Payment, bad func(format string, args ...any)) error
	// Describe is the method's part of the payment's public form, and the
	// next action the payer must take at its outside party (nil: none).
	Describe(p Payment) (*MethodJSON, *NextAction)
}

// Instrument is a payer's instrument as Resolve read it.
type Instrument struct {
	// Risk is what the risk engine sees of it.
	Risk RiskView
	// Use records the instrument on a payment that goes on with it (to
	// its authorization, or held for a challenge).
	Use func(p *Payment)
	// KeptOnFailure: a payment that fails on this attempt keeps the
	// instrument on record (a card token is spent by its one attempt;
	// voucher PINs are not kept unless money moved).
	KeptOnFailure bool
	// Decline, with Resolve's error, says the instrument was read but
	// does not pay (vouchers that do not cover the amount): a try that
	// counts towards Config.AttemptsMax, as an acquirer's decline does.
	Decline bool
	// Anonymous says the instrument names nobody (a prepaid voucher
	// bought with cash): jurisdiction rules may refuse it (Gate).
	Anonymous bool
}

// RiskView is what the risk engine sees of an instrument (risk.Event).
type RiskView struct {
	// Method is risk's method class (risk.MethodVoucher, risk.MethodCard,
	// risk.MethodAccount): "" when the attempt got nowhere worth scoring.
	Method string
	// VoucherSerial is the first voucher, ExtraVoucherSerials the others.
	VoucherSerial       string
	ExtraVoucherSerials []string
	// CardFingerprint is the card's keyed fingerprint, CardCountry where
	// it was issued (vault.BINCountry; "" unknown).
	CardFingerprint string
	CardCountry     string
}

// Authorization is what a method's Authorize did.
type Authorization struct {
	// Transfers book an approval: the lifecycle writes them with the
	// payment's new state and its event in one transaction, as pending
	// transfers (with the ledger timeout of the capture window) when the
	// payment is held, else posted. Transfer ids are pay:<id>:auth:<n>.
	Transfers []ledger.Transfer
	// Call, when set, runs the authorization at an outside party: the
	// lifecycle records next first (with the transition's events), so
	// that a crash during the call leaves a record to resolve, then Call
	// runs with it, records the outcome itself and returns the payment
	// as it then stands.
	Call func(ctx context.Context, recorded Payment) (Payment, error)
	// Effect, when set, runs inside the transaction that books Transfers,
	// after the payment was written: it writes the method's own rows (pay
	// later's plan) or refuses the authorization (a credit limit two
	// purchases race for), its error undoing all of it.
	Effect Effect
}

// Effect is a method's part of a transition's transaction (see
// Authorization.Effect); next is the payment as the transition writes it.
type Effect func(ctx context.Context, tx ledger.Tx, next Payment) error

// runEffect runs a method's effect, if any.
func runEffect(ctx context.Context, tx ledger.Tx, e Effect, next Payment) error {
	if e == nil {
		return nil
	}
	return e(ctx, tx, next)
}

// captureBooker is implemented by methods that write rows of their own
// with a capture (pay later opens the payer's plan): the effect runs in
// the capture's transaction.
type captureBooker interface {
	captureEffect(ctx context.Context, s *Service, next Payment) Effect
}

// refundBooker is implemented by methods whose refunds write rows of
// their own (pay later's plan): refundWithEffect replaces Refund and also
// returns the effect that runs in the refund's transaction.
type refundBooker interface {
	refundWithEffect(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, Effect, error)
}

func refundOf(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, Effect, error) {
	m := methodOf(p)
	if rb, ok := m.(refundBooker); ok {
		return rb.refundWithEffect(ctx, s, r, p, next)
	}
	ts, err := m.Refund(ctx, s, r, p, next)
	return ts, nil, err
}

func captureEffect(ctx context.Context, s *Service, next Payment) Effect {
	if cb, ok := methodOf(next).(captureBooker); ok {
		return cb.captureEffect(ctx, s, next)
	}
	return nil
}

// ErrPayoutUnsupported is the answer of a method that cannot pay out.
var ErrPayoutUnsupported = kassa.Errorf(kassa.EUnprocessable, "payout_unsupported",
	"this payment method cannot pay money back out")

// outsideMethod is implemented by methods whose authorization runs at an
// outside party and can be in flight (cards: the acquirer's call, its
// unknown outcome, the issuer's 3-D Secure challenge).
type outsideMethod interface {
	// InFlight reports whether p's authorization is under way there.
	InFlight(p Payment) bool
	// Unsettled reports whether its outcome is not recorded yet: p cannot
	// end before it is resolved.
	Unsettled(p Payment) bool
	// Continue goes on with p's authorization in flight on a new
	// confirmation (the payer's return from the challenge, a retry).
	Continue(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Payment, error)
	// Abandon records on p, which expires, that the payer never finished
	// the outside party's step.
	Abandon(p *Payment)
	// Answered reports whether req, a confirmation of p that no longer
	// requires action, names the outside party's step p already went on
	// with (a merchant's confirm with the 3-D Secure challenge_id after
	// the payer's return): it is answered with p as it stands.
	Answered(p Payment, req ConfirmRequest) bool
}

// moneyMover is implemented by methods that update their instruments
// after money moved on them (vouchers: status from balance).
type moneyMover interface {
	moved(ctx context.Context, s *Service, p Payment)
}

// refusalExplainer is implemented by methods that explain the ledger's
// refusal of their authorization to the payer.
type refusalExplainer interface {
	explainRefusal(err error, next Payment) error
}

var registry struct {
	sync.RWMutex
	byName map[string]Method
	order  []string // registration order, for messages
}

// RegisterMethod makes m available to every Service under m.Name(). It
// panics on an empty or taken name: registration happens at init.
func RegisterMethod(m Method) {
	registry.Lock()
	defer registry.Unlock()
	name := m.Name()
	if name == "" || strings.ContainsAny(name, " \t\n") {
		panic(fmt.Sprintf("payment: method name %q", name))
	}
	if registry.byName == nil {
		registry.byName = map[string]Method{}
	}
	if _, taken := registry.byName[name]; taken {
		panic("payment: method " + name + " registered twice")
	}
	registry.byName[name] = m
	registry.order = append(registry.order, name)
}

// LookupMethod returns the method registered under name.
func LookupMethod(name string) (Method, bool) {
	registry.RLock()
	defer registry.RUnlock()
	m, ok := registry.byName[name]
	return m, ok
}

// MethodNames lists the registered methods: the default (voucher) first,
// then the others as they were registered (files initialize in name
// order: card, ...).
func MethodNames() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.order))
	if _, ok := registry.byName[defaultMethod]; ok {
		out = append(out, defaultMethod)
	}
	for _, n := range registry.order {
		if n != defaultMethod {
			out = append(out, n)
		}
	}
	return out
}

// MethodList is the registered methods' names for a message: "voucher
// or card", "voucher, card or x".
func MethodList() string {
	names := MethodNames()
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// defaultMethod is the method of a confirmation that names none.
const defaultMethod = MethodVoucher

// method returns the enabled method a confirmation names.
func (s *Service) method(name string) (Method, error) {
	if name == "" {
		name = defaultMethod
	}
	m, ok := LookupMethod(name)
	if !ok {
		return nil, kassa.Invalid("payment_method.type", "payment_method_unsupported", "payment_method.type must be %s", MethodList())
	}
	if err := m.Enabled(s); err != nil {
		return nil, err
	}
	return m, nil
}

// methodOf returns the method p was paid with. A payment's method is
// registered for as long as payments use it; a missing one is a
// programmer error (a binary without a method its database holds).
func methodOf(p Payment) Method {
	m, ok := LookupMethod(p.MethodType)
	if !ok {
		panic("payment: " + p.ID + " has the unregistered method " + p.MethodType)
	}
	return m
}

// inFlight returns p's method when its authorization is under way at an
// outside party.
func inFlight(p Payment) (outsideMethod, bool) {
	if p.MethodType == "" {
		return nil, false
	}
	m, ok := LookupMethod(p.MethodType)
	if !ok {
		return nil, false
	}
	o, ok := m.(outsideMethod)
	return o, ok && o.InFlight(p)
}

// answered: see outsideMethod.Answered.
func answered(p Payment, req ConfirmRequest) bool {
	m, ok := LookupMethod(p.MethodType)
	if !ok {
		return false
	}
	o, ok := m.(outsideMethod)
	return ok && o.Answered(p, req)
}

// unsettled reports whether p's authorization outcome is not recorded
// yet at its method's outside party: it must be resolved before p ends.
func unsettled(p Payment) bool {
	if p.MethodType == "" {
		return false
	}
	m, ok := LookupMethod(p.MethodType)
	if !ok {
		return false
	}
	o, ok := m.(outsideMethod)
	return ok && o.Unsettled(p)
}

// moved lets p's method update its instruments after money moved.
func (s *Service) moved(ctx context.Context, p Payment) {
	if m, ok := LookupMethod(p.MethodType); ok {
		if mm, ok := m.(moneyMover); ok {
			mm.moved(ctx, s, p)
		}
	}
}

// Ledger is the ledger the service books in, for methods of other
// packages.
func (s *Service) Ledger() Ledger { return s.led }
