package identity

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
)

// Step-up codes for a payer without a Kassa account.
//
// When Kassa's risk decision asks a payment for a one-time code and the
// payer paid without an account, the code goes to the customer the
// merchant named on the payment (customer.email or customer.phone). The
// payment is the code's owner and subject: a code sent for payment A
// never approves payment B. The message leads with what the code
// approves — "123456 approves 43.21 € to Demo Merchant" — and never names
// the payment.
//
// Guess limits: at most PayerCodesPerPayment codes are sent for one
// payment, each dies after Limits.CodeAttempts wrong tries, and all of a
// payment's codes together take Limits.CodeAttempts wrong tries: the
// last one answers step_up_locked, after which the page fails the
// payment. A destination takes Limits.Sends of step-up messages, counted
// apart from sign-up and login codes.

// CodeStepUpLocked: a payment's step-up took its last wrong code.
const CodeStepUpLocked = "step_up_locked" // ERateLimited, a *LockedOutError

// Limits of payer codes.
const (
	PayerCodesPerPayment = 3
	approvesMax          = 200
	// payerCodeWindow is how long a payment's count of codes and wrong
	// tries is kept: longer than a payment waits for its payer.
	payerCodeWindow = 7 * 24 * time.Hour
)

// PayerCodeRequest is a step-up code for a payer without an account.
type PayerCodeRequest struct {
	Payment string  // the payment's id: owner and subject of the code, never in the message
	Channel Channel // ChannelEmail or ChannelSMS
	To      string  // the address or number the merchant named
	// Approves says in the payer's words what the code approves, amount
	// and merchant: "43.21 € to Demo Merchant".
	Approves string
}

// SendPayerCode sends a step-up code for a payment to the destination
// the merchant named on it, ending the payment's previous code. Errors:
// kassa EInvalid (payment, to, approves, channel), ERateLimited
// code_resend_limited (*LockedOutError: the payment's codes are used up,
// or the destination had one a moment ago), EUnavailable
// notification_failed.
func (s *Service) SendPayerCode(ctx context.Context, req PayerCodeRequest) error {
	if req.Payment == "" || len(req.Payment) > subjectMax {
		return kassa.Invalid("payment", "subject_invalid", "payment must be 1 to %d bytes", subjectMax)
	}
	if req.Approves == "" || len(req.Approves) > approvesMax || !utf8.ValidString(req.Approves) ||
		strings.ContainsFunc(req.Approves, unicode.IsControl) {
		return kassa.Invalid("approves", "approves_invalid", "approves must be 1 to %d bytes of printable text", approvesMax)
	}
	var to string
	var err error
	switch req.Channel {
	case ChannelEmail:
		to, err = NormalizeEmail(req.To)
	case ChannelSMS:
		to, err = NormalizePhone(req.To)
	default:
		return kassa.Invalid("channel", "channel_invalid", "channel must be email or sms")
	}
	if err != nil {
		return err
	}
	now := s.now().UTC()
	ok, retry, err := s.store.TakeRate(ctx, "payer-codes:"+req.Payment, now, []Rate{{PayerCodesPerPayment, payerCodeWindow}})
	if err != nil {
		return err
	}
	if !ok {
		return lockedOut(CodeResendLimited, "every code this payment may have was sent", retry, now)
	}
	return s.sendCodeApproving(ctx, req.Payment, PurposeStepUp, req.Payment, req.Approves, req.Channel, to)
}

// VerifyPayerCode checks a code SendPayerCode sent for a payment and uses
// it up. Errors: kassa EInvalid code_invalid (wrong, expired, used,
// replaced or dead, not told apart), ERateLimited step_up_locked once the
// payment's codes took their last wrong try (the caller then fails the
// step-up).
func (s *Service) VerifyPayerCode(ctx context.Context, paymentID, code string) error {
	if paymentID == "" || len(paymentID) > subjectMax {
		return errCodeInvalid
	}
	err := s.checkCode(ctx, paymentID, PurposeStepUp, paymentID, code)
	if kassa.AsError(err) != errCodeInvalid {
		return err
	}
	// Wrong tries of all the payment's codes together: the first
	// CodeAttempts-1 are recorded, the last one locks.
	now := s.now().UTC()
	ok, retry, terr := s.store.TakeRate(ctx, "payer-code-wrong:"+paymentID, now, []Rate{{s.lim.CodeAttempts - 1, payerCodeWindow}})
	if terr != nil {
		return terr
	}
	if !ok {
		return lockedOut(CodeStepUpLocked, "too many wrong codes for this payment", retry, now)
	}
	return err
}
