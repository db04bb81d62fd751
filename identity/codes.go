package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Purpose is what a one-time code confirms. A code is bound to its owner
// (the customer, or the sign-up before the customer exists), its purpose
// and its subject: a code sent to approve one payment does not approve
// another.
type Purpose string

const (
	PurposeConfirmEmail Purpose = "confirm_email" // subject: the address
	PurposeConfirmPhone Purpose = "confirm_phone" // subject: the number
	PurposeLogin        Purpose = "login"         // subject: the login's session id
	PurposeStepUp       Purpose = "step_up"       // subject: what is approved, e.g. a payment id
)

func (p Purpose) valid() bool {
	switch p {
	case PurposeConfirmEmail, PurposeConfirmPhone, PurposeLogin, PurposeStepUp:
		return true
	}
	return false
}

// Code is a one-time code as stored: never the code, only its keyed hash,
// bound to owner, purpose and subject.
type Code struct {
	ID        string // otp_...
	Owner     string // cus_... or sgn_...
	Purpose   Purpose
	Subject   string
	Channel   Channel
	To        string
	Hash      []byte
	Attempts  int
	Created   time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused; also set when a newer code replaced it
}

// CodeCheck is the verdict on a code presented.
type CodeCheck int

const (
	CodeRejected CodeCheck = iota // wrong: one attempt more
	CodeAccepted                  // right: the code is used
	CodeExpired                   // too late: nothing changes
)

// Code format.
const (
	CodeDigits   = 6
	subjectMax   = 128
	codeInputMax = 32
)

// normalizeCode strips spaces and dashes from a code as typed and reports
// whether CodeDigits digits are left.
func normalizeCode(s string) (string, bool) {
	if len(s) > codeInputMax {
		return "", false
	}
	s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	if len(s) != CodeDigits {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

func (s *Service) codeHash(owner string, purpose Purpose, subject, code string) []byte {
	return keyed(s.codeKey, owner, string(purpose), subject, code)
}

// codeMessage writes the message carrying a code, in ctx's language
// (messages.go). approves is what a step-up code approves in the payer's
// words ("43.21 € to Demo Merchant"); the message leads with it (dynamic
// linking) and never names the subject, which is an id.
func (s *Service) codeMessage(ctx context.Context, purpose Purpose, approves string, ch Channel, to, code string) Message {
	if purpose == PurposeStepUp && approves != "" {
		return s.stepUpMessage(ctx, approves, ch, to, code)
	}
	what := "what.step_up"
	switch purpose {
	case PurposeConfirmEmail:
		what = "what.confirm_email"
	case PurposeConfirmPhone:
		what = "what.confirm_phone"
	case PurposeLogin:
		what = "what.login"
	}
	args := []any{s.issuer, text(ctx, what), code, s.codeMinutes()}
	m := Message{Channel: ch, To: to}
	if ch == ChannelSMS {
		m.Body = text(ctx, "code.sms", args...)
		return m
	}
	m.Subject, m.Body = text(ctx, "code.subject", args[:1]...), text(ctx, "code.body", args...)
	return m
}

// stepUpMessage is a step-up code's message: what it approves first, so
// that the payer sees what they confirm before they type it.
func (s *Service) stepUpMessage(ctx context.Context, approves string, ch Channel, to, code string) Message {
	args := []any{code, approves, s.issuer, s.codeMinutes()}
	m := Message{Channel: ch, To: to}
	if ch == ChannelSMS {
		m.Body = text(ctx, "stepup.sms", args...)
		return m
	}
	m.Subject, m.Body = text(ctx, "stepup.subject", args...), text(ctx, "stepup.body", args...)
	return m
}

// takeSend counts one message to a destination against Limits.Sends.
// Step-up codes are counted apart from the others: a sign-up or login
// code just sent to an address must not hold up the code that approves
// a payment a moment later.
func (s *Service) takeSend(ctx context.Context, purpose Purpose, to string, now time.Time) error {
	key := "send:" + to
	if purpose == PurposeStepUp {
		key = "send:" + string(PurposeStepUp) + ":" + to
	}
	ok, retry, err := s.store.TakeRate(ctx, key, now, s.lim.Sends)
	if err != nil {
		return fmt.Errorf("identity: send rate: %w", err)
	}
	if !ok {
		return lockedOut(CodeResendLimited, "a code was sent to this destination a moment ago; wait before asking for another", retry, now)
	}
	return nil
}

// sendCode makes a code for owner, purpose and subject, stores its hash
// (ending the previous code of owner and purpose) and sends it to to.
func (s *Service) sendCode(ctx context.Context, owner string, purpose Purpose, subject string, ch Channel, to string) error {
	return s.sendCodeApproving(ctx, owner, purpose, subject, "", ch, to)
}

// sendCodeApproving is sendCode with the words of what a step-up code
// approves for its message.
func (s *Service) sendCodeApproving(ctx context.Context, owner string, purpose Purpose, subject, approves string, ch Channel, to string) error {
	now := s.now().UTC()
	if err := s.takeSend(ctx, purpose, to, now); err != nil {
		return err
	}
	code := id.Digits(s.rand, CodeDigits)
	c := Code{
		ID: s.ids.New("otp"), Owner: owner, Purpose: purpose, Subject: subject, Channel: ch, To: to,
		Hash: s.codeHash(owner, purpose, subject, code), Created: now, ExpiresAt: now.Add(s.lim.CodeTTL),
	}
	if err := s.store.CreateCode(ctx, c); err != nil {
		return fmt.Errorf("identity: store code: %w", err)
	}
	return s.send(ctx, s.codeMessage(ctx, purpose, approves, ch, to, code), string(purpose))
}

// send hands a message to the notifier, logging what was sent but never
// its body.
func (s *Service) send(ctx context.Context, m Message, what string) error {
	to := maskEmail(m.To)
	if m.Channel == ChannelSMS {
		to = maskPhone(m.To)
	}
	if err := s.notifier.Send(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "send identity message", "what", what, "channel", string(m.Channel), "to", to, "err", err)
		return errNotifyFailed
	}
	s.log.InfoContext(ctx, "identity message sent", "what", what, "channel", string(m.Channel), "to", to)
	return nil
}

// checkCode checks a code presented for owner, purpose and subject. Every
// failure is errCodeInvalid: wrong, expired, used, replaced or dead codes
// are not told apart.
func (s *Service) checkCode(ctx context.Context, owner string, purpose Purpose, subject, input string) error {
	code, ok := normalizeCode(input)
	if !ok {
		return errCodeInvalid
	}
	now := s.now().UTC()
	want := s.codeHash(owner, purpose, subject, code)
	res, err := s.store.CheckCode(ctx, owner, purpose, now, s.lim.CodeAttempts, func(c Code) CodeCheck {
		switch {
		case !now.Before(c.ExpiresAt):
			return CodeExpired
		case subtle.ConstantTimeCompare(c.Hash, want) == 1:
			return CodeAccepted
		}
		return CodeRejected
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return errCodeInvalid
	case err != nil:
		return fmt.Errorf("identity: check code: %w", err)
	case res != CodeAccepted:
		return errCodeInvalid
	}
	return nil
}

// SendCode sends a customer a one-time code for purpose (PurposeStepUp or
// PurposeLogin) and subject (what it approves, e.g. a payment id, at most
// 128 bytes) to their confirmed address (ChannelEmail) or number
// (ChannelSMS). A new code ends the customer's previous code of that
// purpose. Errors: kassa ENotFound customer_not_found, EInvalid
// (purpose, subject, channel: factor_unavailable when that channel is not
// confirmed), ERateLimited code_resend_limited (*LockedOutError),
// EUnavailable notification_failed.
func (s *Service) SendCode(ctx context.Context, customerID string, purpose Purpose, subject string, ch Channel) error {
	if purpose != PurposeStepUp && purpose != PurposeLogin {
		return kassa.Invalid("purpose", "purpose_invalid", "codes are sent for login or step_up")
	}
	if subject == "" || len(subject) > subjectMax {
		return kassa.Invalid("subject", "subject_invalid", "subject must be 1 to %d bytes", subjectMax)
	}
	r, err := s.record(ctx, customerID)
	if err != nil {
		return err
	}
	to, err := destination(r, ch)
	if err != nil {
		return err
	}
	return s.sendCode(ctx, r.ID, purpose, subject, ch, to)
}

// VerifyCode checks a code sent by SendCode for the same customer,
// purpose and subject, and uses it up. Errors: kassa EInvalid code_invalid
// (wrong, expired, used, replaced by a newer code or dead after
// Limits.CodeAttempts wrong tries, not told apart). Wrong codes also count
// against the customer's second-factor lockout.
func (s *Service) VerifyCode(ctx context.Context, customerID string, purpose Purpose, subject, code string) error {
	a, err := s.reserveFactor(ctx, customerID, "")
	if err != nil {
		return err
	}
	defer a.end(ctx)
	err = s.checkCode(ctx, customerID, purpose, subject, code)
	if kassa.AsError(err) == errCodeInvalid {
		a.factorFailed(ctx, "", "otp")
	}
	return err
}

// destination is the customer's confirmed address of a channel.
func destination(r Record, ch Channel) (string, error) {
	switch {
	case ch == ChannelEmail && !r.EmailVerifiedAt.IsZero():
		return r.Email, nil
	case ch == ChannelSMS && !r.PhoneVerifiedAt.IsZero() && r.Phone != "":
		return r.Phone, nil
	}
	return "", kassa.Invalid("channel", CodeFactorUnavailable, "no confirmed destination for channel %q", ch)
}
