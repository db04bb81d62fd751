package voucher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
)

// Limits on failed PIN attempts (the defaults of Config.Limits).
//
// A failure is a PIN that is malformed or unknown (counted per payment and
// per client IP), or a valid PIN whose voucher cannot pay — locked,
// depleted, expired, invalidated (counted per payment, per IP and per
// serial). The balance endpoint counts only wrong PINs, per IP. Reaching a
// limit within its window locks the source out for its lockout time: every
// further attempt from it fails with a *LockedOutError (429, Retry-After)
// without any PIN being looked at. Successes reset nothing, so valid PINs
// cannot be interleaved to keep guessing.
const (
	// A payment gets 5 failures; then it is locked out for a day, longer
	// than any payment lives: the payer must start a new payment.
	PaymentFailuresMax = 5
	PaymentWindow      = 24 * time.Hour
	PaymentLockout     = 24 * time.Hour
	// A client IP (an IPv6 /64) gets 10 failures per 15 minutes, then is
	// locked out for 15 minutes.
	IPFailuresMax = 10
	IPWindow      = 15 * time.Minute
	IPLockout     = 15 * time.Minute
	// A voucher's valid PIN may fail on its status 5 times per hour; then
	// the voucher is locked out of payments for an hour.
	SerialFailuresMax = 5
	SerialWindow      = time.Hour
	SerialLockout     = time.Hour

	// PINsPerCallMax bounds the PINs of one Resolve call.
	PINsPerCallMax = 10
)

// Limits configures the attempt counters; see the constants above.
type Limits struct {
	Payment, IP, Serial Limit
}

// DefaultLimits are the limits of the constants above.
var DefaultLimits = Limits{
	Payment: Limit{PaymentFailuresMax, PaymentWindow, PaymentLockout},
	IP:      Limit{IPFailuresMax, IPWindow, IPLockout},
	Serial:  Limit{SerialFailuresMax, SerialWindow, SerialLockout},
}

func (l Limits) withDefaults() Limits {
	fill := func(x *Limit, d Limit) {
		if x.Failures <= 0 {
			x.Failures = d.Failures
		}
		if x.Window <= 0 {
			x.Window = d.Window
		}
		if x.Lockout <= 0 {
			x.Lockout = d.Lockout
		}
	}
	fill(&l.Payment, DefaultLimits.Payment)
	fill(&l.IP, DefaultLimits.IP)
	fill(&l.Serial, DefaultLimits.Serial)
	return l
}

func (l Limits) of(s Scope) Limit {
	switch s {
	case ScopePayment:
		return l.Payment
	case ScopeIP:
		return l.IP
	}
	return l.Serial
}

// AttemptContext says who is trying PINs. MerchantID is required: it
// receives the voucher.pin_attempts_exceeded events. PaymentID and ClientIP
// are counted when set; a payment should always give both.
type AttemptContext struct {
	MerchantID string
	PaymentID  string
	ClientIP   string
}

func (a AttemptContext) keys() []AttemptKey {
	var ks []AttemptKey
	if a.PaymentID != "" {
		ks = append(ks, AttemptKey{ScopePayment, a.PaymentID})
	}
	if a.ClientIP != "" {
		ks = append(ks, AttemptKey{ScopeIP, ipSubject(a.ClientIP)})
	}
	return ks
}

// LockoutData is the data of voucher.pin_attempts_exceeded. It names what
// was locked out and until when; never a PIN.
type LockoutData struct {
	Scope       string `json:"scope"` // payment, ip or serial
	Payment     string `json:"payment,omitempty"`
	IP          string `json:"ip,omitempty"` // an IPv4 address or an IPv6 /64
	Serial      string `json:"serial,omitempty"`
	Failures    int    `json:"failures"`
	LockedUntil string `json:"locked_until"`
}

func (s *Service) lockoutEvent(merchantID string) func(Lockout) (Event, error) {
	return func(l Lockout) (Event, error) {
		d := LockoutData{Scope: string(l.Key.Scope), Failures: l.Failures, LockedUntil: l.Until.UTC().Format(time.RFC3339)}
		switch l.Key.Scope {
		case ScopePayment:
			d.Payment = l.Key.Subject
		case ScopeIP:
			d.IP = l.Key.Subject
		case ScopeSerial:
			d.Serial = l.Key.Subject
		}
		return s.newEvent(merchantID, EventPINAttemptsExceeded, d)
	}
}

// Looking up a PIN takes a moment, and many can be tried at once. Were
// the lockout only read before the lookups and the failures recorded
// after them, any number of guesses sent together would all be looked up
// before the first failure counted. So a call first reserves a place per
// PIN on its payment and client IP (Store.ReserveAttempt): it may go on
// only while their failures and the places of calls under way stay below
// the limits. It records its failures, then gives the places back.

// attemptLease is how long a call's places last: far longer than any
// call takes, short enough that the places of calls a crash cut off come
// back soon.
const attemptLease = time.Minute

// attemptBusyRetry is the Retry-After of a call refused because calls
// under way fill a limit: they end within moments.
const attemptBusyRetry = time.Second

// reserve takes places for places PINs on keys at now; end, deferred,
// gives them back. Refused, it returns a *LockedOutError.
func (s *Service) reserve(ctx context.Context, keys []AttemptKey, places int, now time.Time) (end func(), err error) {
	if len(keys) == 0 {
		return func() {}, nil
	}
	a := Attempt{ID: s.ids.New("vpa"), Places: places, Until: now.Add(attemptLease)}
	for _, k := range keys {
		a.Keys = append(a.Keys, Failure{Key: k, Limit: s.cfg.Limits.of(k.Scope)})
	}
	l, ok, err := s.store.ReserveAttempt(ctx, a, now)
	if err != nil {
		return nil, fmt.Errorf("voucher: reserve PIN attempt: %w", err)
	}
	if !ok {
		if l.Until.IsZero() {
			l.Until = now.Add(attemptBusyRetry)
		}
		return nil, lockedOut(l, now)
	}
	return func() {
		// Also when the caller went away: the places must come back. An
		// error is logged; the places lapse.
		if err := s.store.EndAttempt(context.WithoutCancel(ctx), a.ID); err != nil {
			s.log.ErrorContext(ctx, "voucher: end PIN attempt", "err", err)
		}
	}, nil
}

// checkLockout fails with a *LockedOutError if any key is locked out.
func (s *Service) checkLockout(ctx context.Context, keys []AttemptKey, now time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	l, locked, err := s.store.LockedOut(ctx, keys, now)
	if err != nil {
		return fmt.Errorf("voucher: lockouts: %w", err)
	}
	if locked {
		return lockedOut(l, now)
	}
	return nil
}

// fail records n failures against each of keys (and one against serials).
func (s *Service) fail(ctx context.Context, a AttemptContext, now time.Time, keys []AttemptKey, n int, serials []string) error {
	var fs []Failure
	for range n {
		for _, k := range keys {
			fs = append(fs, Failure{Key: k, Limit: s.cfg.Limits.of(k.Scope)})
		}
	}
	for _, serial := range serials {
		fs = append(fs, Failure{Key: AttemptKey{ScopeSerial, serial}, Limit: s.cfg.Limits.Serial})
	}
	if len(fs) == 0 {
		return nil
	}
	// Recorded even when the caller went away meanwhile.
	ls, err := s.store.RecordFailures(context.WithoutCancel(ctx), now, fs, s.lockoutEvent(a.MerchantID))
	if err != nil {
		return fmt.Errorf("voucher: record failed PIN attempts: %w", err)
	}
	for _, l := range ls {
		s.log.WarnContext(ctx, "voucher PIN attempts exceeded", "scope", string(l.Key.Scope),
			"subject", l.Key.Subject, "failures", l.Failures, "until", l.Until)
	}
	return nil
}

// Resolve turns the PINs a payer typed into their vouchers, with their
// balances, for a payment. A PIN is normalized (spaces and dashes
// stripped) and must then be 16 digits.
//
// Errors, each a *kassa.Error with Param "pins[i]" naming the first PIN
// that failed: EInvalid voucher_pin_invalid (malformed or unknown — the two
// are not told apart), EInvalid voucher_pin_duplicate, EUnprocessable
// voucher_locked, voucher_depleted (also when nothing is available),
// voucher_expired, voucher_invalidated. While the payment, the client IP
// or a voucher is locked out after too many failures, or calls under way
// fill the payment's or the IP's limit (reserve): a *LockedOutError
// (kassa ERateLimited voucher_pin_attempts_exceeded). Every failed PIN
// counts (see the Limits constants); the call that reaches a limit still
// gets its own error, the next one the lockout.
func (s *Service) Resolve(ctx context.Context, pins []string, a AttemptContext) ([]Voucher, error) {
	if a.MerchantID == "" {
		return nil, errors.New("voucher: AttemptContext.MerchantID is required")
	}
	if len(pins) == 0 || len(pins) > PINsPerCallMax {
		return nil, kassa.Invalid("pins", "pins_invalid", "give from 1 to %d voucher PINs", PINsPerCallMax)
	}
	now := s.now().UTC()
	keys := a.keys()
	end, err := s.reserve(ctx, keys, len(pins), now)
	if err != nil {
		return nil, err
	}
	defer end()
	var (
		out      []Voucher
		first    error
		wrong    int      // malformed or unknown PINs
		bad      []string // serials of valid PINs that cannot pay
		seen     = map[string]bool{}
		serialKs []AttemptKey
	)
	for i, raw := range pins {
		param := fmt.Sprintf("pins[%d]", i)
		pin, ok := NormalizePIN(raw)
		if ok && seen[pin] {
			first = cmpOr(first, kassa.Invalid(param, CodePINDuplicate, "the same PIN is given twice"))
			continue
		}
		seen[pin] = true
		var v Voucher
		var err error
		if ok {
			v, err = s.store.VoucherByPINHash(ctx, pinHash(s.cfg.PINKey, pin))
		}
		if !ok || errors.Is(err, ErrNotFound) {
			wrong++
			first = cmpOr(first, pinInvalid(param))
			continue
		} else if err != nil {
			return nil, fmt.Errorf("voucher: look up PIN: %w", err)
		}
		if v, err = s.withBalance(ctx, v); err != nil {
			return nil, err
		}
		serialKs = append(serialKs, AttemptKey{ScopeSerial, v.Serial})
		st := v.Status
		if st == StatusActive && v.Balance <= 0 {
			st = StatusDepleted
		}
		if err := statusError(param, st); err != nil {
			bad = append(bad, v.Serial)
			first = cmpOr(first, err)
			continue
		}
		out = append(out, v)
	}
	// A voucher locked out is refused like a payment locked out; the
	// attempt's failures count all the same.
	lockErr := s.checkLockout(ctx, serialKs, now)
	if n := wrong + len(bad); n > 0 {
		if err := s.fail(ctx, a, now, keys, n, bad); err != nil {
			return nil, err
		}
	}
	if lockErr != nil {
		return nil, lockErr
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Balance returns the voucher of a PIN with its balance and status, for
// the payer's balance check; any status is answered. Errors: EInvalid
// voucher_pin_invalid with Param "pin" (counted against the client IP),
// *LockedOutError while the IP is locked out or calls under way fill its
// limit.
func (s *Service) Balance(ctx context.Context, pin string, a AttemptContext) (Voucher, error) {
	if a.MerchantID == "" {
		return Voucher{}, errors.New("voucher: AttemptContext.MerchantID is required")
	}
	now := s.now().UTC()
	keys := a.keys()
	end, err := s.reserve(ctx, keys, 1, now)
	if err != nil {
		return Voucher{}, err
	}
	defer end()
	norm, ok := NormalizePIN(pin)
	var v Voucher
	if ok {
		v, err = s.store.VoucherByPINHash(ctx, pinHash(s.cfg.PINKey, norm))
	}
	if !ok || errors.Is(err, ErrNotFound) {
		if err := s.fail(ctx, a, now, keys, 1, nil); err != nil {
			return Voucher{}, err
		}
		return Voucher{}, pinInvalid("pin")
	} else if err != nil {
		return Voucher{}, fmt.Errorf("voucher: look up PIN: %w", err)
	}
	return s.withBalance(ctx, v)
}

// PruneAttempts forgets failed attempts older than the longest window and
// lockouts that have ended; Run calls it.
func (s *Service) PruneAttempts(ctx context.Context) (int, error) {
	l := s.cfg.Limits
	longest := max(l.Payment.Window, l.IP.Window, l.Serial.Window)
	n, err := s.store.PruneAttempts(ctx, s.now().UTC().Add(-longest))
	if err != nil {
		return n, fmt.Errorf("voucher: prune attempts: %w", err)
	}
	return n, nil
}

// TriesLeft is how many more failed PINs a's payment and client IP take
// before one of them is locked out (the fewest of theirs), for the payment
// page's warning; locked, when not zero, is when the lockout in force ends
// (the one that ends last).
func (s *Service) TriesLeft(ctx context.Context, a AttemptContext) (left int, locked time.Time, err error) {
	now := s.now().UTC()
	left = -1
	for _, k := range a.keys() {
		lim := s.cfg.Limits.of(k.Scope)
		l, err := s.store.FailuresOf(ctx, Failure{Key: k, Limit: lim}, now)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("voucher: failures: %w", err)
		}
		if l.Until.After(now) {
			if l.Until.After(locked) {
				locked = l.Until
			}
			left = 0
			continue
		}
		if n := max(lim.Failures-l.Failures, 0); left < 0 || n < left {
			left = n
		}
	}
	return max(left, 0), locked, nil
}
