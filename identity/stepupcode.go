package identity

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
)

// SendStepUpCode sends a customer a step-up code for subject (a payment
// id) as SendCode does, with what the code approves in the payer's words
// and language ("€43.21 to Demo Merchant") leading its message: the payer
// sees what they confirm before typing it (dynamic linking), and the
// message never names the subject. Errors as SendCode's, and kassa
// EInvalid approves_invalid for approves that is empty, over 200 bytes or
// holds control characters.
func (s *Service) SendStepUpCode(ctx context.Context, customerID, subject, approves string, ch Channel) error {
	if approves == "" || len(approves) > approvesMax || !utf8.ValidString(approves) ||
		strings.ContainsFunc(approves, unicode.IsControl) {
		return kassa.Invalid("approves", "approves_invalid", "approves must be 1 to %d bytes of printable text", approvesMax)
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
	return s.sendCodeApproving(ctx, r.ID, PurposeStepUp, subject, approves, ch, to)
}
