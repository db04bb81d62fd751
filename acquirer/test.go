package acquirer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/money"
)

// Test card numbers of the built-in test acquirer. Any expiry in the
// future and any CVC work unless said otherwise.
//
//	4242424242424242  approved
//	4000000000000002  declined: generic_decline
//	4000000000009995  declined: insufficient_funds
//	4000000000009979  declined: stolen_card
//	4000000000003220  requires_action: a 3-D Secure challenge (ChallengeID).
//	                  Complete it with Test.CompleteChallenge (the issuer
//	                  page of package web does, for the payer), then
//	                  Authorize again with a new idempotency key and the
//	                  ChallengeID: approved, or declined
//	                  authentication_failed when the challenge failed.
//	4000000000000119  network timeout: the acquirer authorizes, but the
//	                  answer is lost — the call returns ErrTimeout and only
//	                  Query (or a replay with the same key) shows approved.
//	4000000000000259  slow: approved, answered after Test.SlowDelay (2 s);
//	                  authorized the moment it arrives, so a caller that
//	                  gives up earlier gets ErrTimeout and Query shows it.
//
// Any other number is approved. A CVC of 000 is declined incorrect_cvc; an
// expiry in the past is declined expired_card.
const (
	CardApproved          = "4242424242424242"
	CardDeclined          = "4000000000000002"
	CardInsufficientFunds = "4000000000009995"
	CardStolen            = "4000000000009979"
	CardThreeDS           = "4000000000003220"
	CardTimeout           = "4000000000000119"
	CardSlow              = "4000000000000259"
)

// SlowDelayDefault is how long the test acquirer takes to answer for CardSlow.
const SlowDelayDefault = 2 * time.Second

// testCallsMax bounds the calls the test acquirer remembers.
const testCallsMax = 1_000_000

// How long the test acquirer keeps what a later call may need, once it
// is at Test.RecordsMax: a call's outcome (its idempotency key, for
// replays and Query) for TestCallKeep, an authorization that is not
// settled (captured money may still be refunded or paid out to its card)
// for TestAuthKeep. Settled authorizations (voided, or refunded in full)
// and older records are forgotten, oldest first.
const (
	TestCallKeep = 24 * time.Hour
	TestAuthKeep = 180 * 24 * time.Hour
)

// Test is the built-in test acquirer. It keeps its state in memory, like
// a remote acquirer's own database: idempotency keys and their outcomes
// (so Query works after a timeout), authorizations with their captured
// and refunded amounts, and 3-D Secure challenges. It never logs or keeps
// a PAN (only an HMAC of each request, under a per-process key).
type Test struct {
	// SlowDelay overrides SlowDelayDefault (tests shorten it).
	SlowDelay time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// RecordsMax bounds the calls and the authorizations it remembers
	// (each); 0 means 1,000,000. At the bound it forgets the oldest it
	// may (TestCallKeep, TestAuthKeep), else refuses new calls.
	RecordsMax int

	mu         sync.Mutex
	key        []byte
	calls      map[string]testCall
	callOrder  []string // keys of calls, oldest first
	auths      map[string]*testAuth
	authOrder  []string // ids of auths, oldest first
	challenges map[string]*testChallenge
	ids        id.Generator
}

type testCall struct {
	hash   [32]byte
	result Result
}

type testAuth struct {
	amount, captured, refunded money.Amount
	paidOut                    money.Amount // original credits (payouts)
	currency                   money.Currency
	voided                     bool
	created                    time.Time
}

// settled reports whether nothing more can happen to a: voided, or all
// it captured refunded.
func (a *testAuth) settled() bool {
	return a.voided || (a.captured > 0 && a.refunded >= a.captured)
}

func (t *Test) recordsMax() int {
	if t.RecordsMax > 0 {
		return t.RecordsMax
	}
	return testCallsMax
}

// record remembers a call's outcome under key; t.mu is held and begin
// made room.
func (t *Test) record(key string, c testCall) {
	if _, ok := t.calls[key]; !ok {
		t.callOrder = append(t.callOrder, key)
	}
	t.calls[key] = c
}

// roomForCall forgets the oldest calls older than TestCallKeep while the
// acquirer is at RecordsMax; it reports whether there is room.
func (t *Test) roomForCall() bool {
	cut := t.now().Add(-TestCallKeep)
	n := 0
	for len(t.calls) >= t.recordsMax() && n < len(t.callOrder) {
		k := t.callOrder[n]
		c, ok := t.calls[k]
		if ok && !c.result.Created.Before(cut) {
			break // oldest first: the rest is younger
		}
		delete(t.calls, k)
		n++
	}
	t.callOrder = compact(t.callOrder, n)
	return len(t.calls) < t.recordsMax()
}

// roomForAuth forgets the oldest settled authorizations, and those older
// than TestAuthKeep, while the acquirer is at RecordsMax; it reports
// whether there is room.
func (t *Test) roomForAuth() bool {
	if len(t.auths) < t.recordsMax() {
		return true
	}
	cut := t.now().Add(-TestAuthKeep)
	kept := t.authOrder[:0]
	for i, id := range t.authOrder {
		if len(t.auths) < t.recordsMax() {
			kept = append(kept, t.authOrder[i:]...)
			break
		}
		if a := t.auths[id]; a == nil || a.settled() || a.created.Before(cut) {
			delete(t.auths, id)
			continue
		}
		kept = append(kept, id)
	}
	clear(t.authOrder[len(kept):])
	t.authOrder = kept
	return len(t.auths) < t.recordsMax()
}

// compact drops the first n of s, reusing its array once half is unused.
func compact(s []string, n int) []string {
	clear(s[:n])
	s = s[n:]
	if cap(s) > 64 && len(s) < cap(s)/2 {
		s = append([]string(nil), s...)
	}
	return s
}

type testChallenge struct {
	hash      [32]byte // of the card and amount it was issued for
	info      ChallengeInfo
	completed bool
	succeeded bool
}

var _ Acquirer = (*Test)(nil)

// NewTest returns a test acquirer with no history.
func NewTest() *Test {
	key := make([]byte, 32)
	rand.Read(key)
	return &Test{key: key, calls: map[string]testCall{}, auths: map[string]*testAuth{},
		challenges: map[string]*testChallenge{}}
}

func (t *Test) now() time.Time {
	if t.Clock != nil {
		return t.Clock().UTC()
	}
	return time.Now().UTC()
}

func (t *Test) hash(parts ...string) [32]byte {
	m := hmac.New(sha256.New, t.key)
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	var h [32]byte
	copy(h[:], m.Sum(nil))
	return h
}

// begin checks the key and the deadline and returns an earlier call's
// result under the key (replay=true), or ErrIdempotencyMismatch.
func (t *Test) begin(ctx context.Context, key string, h [32]byte) (Result, bool, error) {
	if key == "" || len(key) > 255 {
		return Result{}, false, fmt.Errorf("%w: an idempotency key of 1 to 255 characters is required", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, false, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	c, ok := t.calls[key]
	if !ok {
		if !t.roomForCall() {
			return Result{}, false, fmt.Errorf("%w: the test acquirer remembers at most %d calls of the last %s", ErrInvalid, t.recordsMax(), TestCallKeep)
		}
		return Result{}, false, nil
	}
	if c.hash != h {
		return Result{}, false, ErrIdempotencyMismatch
	}
	return c.result, true, nil
}

// Authorize implements Acquirer with the test cards' behaviour.
func (t *Test) Authorize(ctx context.Context, req AuthorizeRequest) (Result, error) {
	h := t.hash("authorize", req.PAN, strconv.Itoa(req.ExpMonth), strconv.Itoa(req.ExpYear), req.CVC,
		strconv.FormatInt(int64(req.Amount), 10), string(req.Currency), req.ChallengeID)
	t.mu.Lock()
	res, replay, err := t.begin(ctx, req.IdempotencyKey, h)
	if err != nil || replay {
		t.mu.Unlock()
		return res, err
	}
	if req.Amount <= 0 || req.PAN == "" {
		t.mu.Unlock()
		return Result{}, fmt.Errorf("%w: a card number and a positive amount are required", ErrInvalid)
	}
	res = t.decide(req)
	t.record(req.IdempotencyKey, testCall{hash: h, result: res})
	t.mu.Unlock()

	switch req.PAN {
	case CardTimeout:
		// Authorized, but the answer never arrives.
		return Result{}, ErrTimeout
	case CardSlow:
		d := t.SlowDelay
		if d == 0 {
			d = SlowDelayDefault
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
	}
	return res, nil
}

// decide makes an authorization's outcome; t.mu is held.
func (t *Test) decide(req AuthorizeRequest) Result {
	now := t.now()
	res := Result{Operation: OpAuthorize, Amount: req.Amount, Currency: req.Currency, Created: now}
	decline := func(code string) Result {
		res.Status, res.DeclineCode = Declined, code
		return res
	}
	if req.ExpYear*12+req.ExpMonth < now.Year()*12+int(now.Month()) {
		return decline(ExpiredCard)
	}
	if req.CVC == "000" {
		return decline(IncorrectCVC)
	}
	switch req.PAN {
	case CardDeclined:
		return decline(GenericDecline)
	case CardInsufficientFunds:
		return decline(InsufficientFunds)
	case CardStolen:
		return decline(StolenCard)
	case CardThreeDS:
		ch := t.hash("challenge", req.PAN, strconv.FormatInt(int64(req.Amount), 10), string(req.Currency))
		if req.ChallengeID == "" {
			if len(t.challenges) >= testCallsMax {
				return decline(GenericDecline)
			}
			res.Status, res.ChallengeID = RequiresAction, t.ids.New("3ds")
			t.challenges[res.ChallengeID] = &testChallenge{hash: ch, info: ChallengeInfo{ID: res.ChallengeID,
				Reference: req.Reference, Amount: req.Amount, Currency: req.Currency, Last4: req.PAN[max(0, len(req.PAN)-4):]}}
			return res
		}
		c, ok := t.challenges[req.ChallengeID]
		switch {
		case !ok || c.hash != ch:
			return decline(AuthenticationFailed)
		case !c.completed:
			res.Status, res.ChallengeID = RequiresAction, req.ChallengeID
			return res
		case !c.succeeded:
			res.TransStatus, res.ECI = "N", "07"
			return decline(AuthenticationFailed)
		}
		delete(t.challenges, req.ChallengeID) // a challenge authenticates one authorization
		res.TransStatus, res.ECI = "Y", "05"
	}
	if !t.roomForAuth() {
		return decline(GenericDecline)
	}
	res.Status, res.AuthorizationID = Approved, t.ids.New("auth")
	t.auths[res.AuthorizationID] = &testAuth{amount: req.Amount, currency: req.Currency, created: now}
	t.authOrder = append(t.authOrder, res.AuthorizationID)
	return res
}

// CompleteChallenge plays the payer's part of a 3-D Secure challenge:
// passed or failed. It reports false for an unknown challenge, or one
// the payer answered already (an answer is final, as at an issuer).
func (t *Test) CompleteChallenge(challengeID string, passed bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.challenges[challengeID]
	if !ok || c.completed {
		return false
	}
	c.completed, c.succeeded = true, passed
	return true
}

// Challenge returns what the issuer's challenge page shows of a
// challenge not yet used by an authorization; false when there is none.
func (t *Test) Challenge(challengeID string) (ChallengeInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.challenges[challengeID]
	if !ok {
		return ChallengeInfo{}, false
	}
	info := c.info
	info.Completed = c.completed
	return info, true
}

// follow-up runs a capture, void or refund under its idempotency key.
func (t *Test) followUp(ctx context.Context, op Operation, key, authID string, amount money.Amount,
	apply func(a *testAuth) error) (Result, error) {
	h := t.hash(string(op), authID, strconv.FormatInt(int64(amount), 10))
	t.mu.Lock()
	defer t.mu.Unlock()
	res, replay, err := t.begin(ctx, key, h)
	if err != nil || replay {
		return res, err
	}
	a, ok := t.auths[authID]
	if !ok {
		return Result{}, fmt.Errorf("%w: authorization %q", ErrNotFound, authID)
	}
	if err := apply(a); err != nil {
		return Result{}, err
	}
	res = Result{Operation: op, Status: Approved, AuthorizationID: authID, Amount: amount, Currency: a.currency, Created: t.now()}
	t.record(key, testCall{hash: h, result: res})
	return res, nil
}

// Capture implements Acquirer: several partial captures may add up to
// the authorized amount.
func (t *Test) Capture(ctx context.Context, req CaptureRequest) (Result, error) {
	return t.followUp(ctx, OpCapture, req.IdempotencyKey, req.AuthorizationID, req.Amount, func(a *testAuth) error {
		switch {
		case a.voided:
			return fmt.Errorf("%w: the authorization was voided", ErrInvalid)
		case req.Amount <= 0 || req.Amount > a.amount-a.captured:
			return fmt.Errorf("%w: capture 1 to %d", ErrInvalid, a.amount-a.captured)
		}
		a.captured += req.Amount
		return nil
	})
}

// Void implements Acquirer: only an authorization nothing was captured of.
func (t *Test) Void(ctx context.Context, req VoidRequest) (Result, error) {
	return t.followUp(ctx, OpVoid, req.IdempotencyKey, req.AuthorizationID, 0, func(a *testAuth) error {
		switch {
		case a.voided:
			return fmt.Errorf("%w: the authorization was voided already", ErrInvalid)
		case a.captured > 0:
			return fmt.Errorf("%w: the authorization was captured; refund instead", ErrInvalid)
		}
		a.voided = true
		return nil
	})
}

// Refund implements Acquirer: refunds add up to at most what was captured.
func (t *Test) Refund(ctx context.Context, req RefundRequest) (Result, error) {
	return t.followUp(ctx, OpRefund, req.IdempotencyKey, req.AuthorizationID, req.Amount, func(a *testAuth) error {
		if req.Amount <= 0 || req.Amount > a.captured-a.refunded {
			return fmt.Errorf("%w: refund 1 to %d", ErrInvalid, a.captured-a.refunded)
		}
		a.refunded += req.Amount
		return nil
	})
}

// PayoutAmountMax is the most the test acquirer credits to a card in
// one payout.
const PayoutAmountMax money.Amount = 1_000_000_00

// Payout implements Acquirer: an original credit to the card of an
// authorization, in its currency, up to PayoutAmountMax per call.
func (t *Test) Payout(ctx context.Context, req PayoutRequest) (Result, error) {
	return t.followUp(ctx, OpPayout, req.IdempotencyKey, req.AuthorizationID, req.Amount, func(a *testAuth) error {
		switch {
		case req.Amount <= 0 || req.Amount > PayoutAmountMax:
			return fmt.Errorf("%w: payout 1 to %d", ErrInvalid, PayoutAmountMax)
		case req.Currency != a.currency:
			return fmt.Errorf("%w: the card was authorized in %s, not %s", ErrInvalid, a.currency, req.Currency)
		}
		a.paidOut += req.Amount
		return nil
	})
}

// Query implements Acquirer.
func (t *Test) Query(ctx context.Context, key string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.calls[key]
	if !ok {
		return Result{}, ErrNotFound
	}
	return c.result, nil
}
