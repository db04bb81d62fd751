package merchant

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/kassa/kassa"
)

// ErrSuspended answers every key of a suspended merchant and every
// payment or payout it would start.
var ErrSuspended = kassa.Errorf(kassa.EForbidden, "merchant_suspended",
	"the merchant is suspended: no payment or payout can be made; contact the platform operator")

// suspendReasonMax bounds the operator's reason.
const suspendReasonMax = 500

// Suspend stops a merchant: its API keys get ErrSuspended (this process
// at once, others within AuthCacheTTL), its hosted pages tell the payer,
// its payouts are refused (CheckActive); the money it holds stays where
// it is. It returns the merchant before the change.
func (s *Service) Suspend(ctx context.Context, id, reason string) (Merchant, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > suspendReasonMax || !utf8.ValidString(reason) {
		return Merchant{}, kassa.Invalid("reason", "reason_required", "give a reason of 1 to %d bytes", suspendReasonMax)
	}
	m, err := s.store.Merchant(ctx, id)
	if err != nil {
		return Merchant{}, err
	}
	if m.SuspendedAt != nil {
		return Merchant{}, kassa.Errorf(kassa.EConflict, "merchant_suspended", "the merchant is suspended already")
	}
	now := s.now().UTC()
	if err := s.store.SetSuspended(ctx, id, &now, reason); err != nil {
		return Merchant{}, err
	}
	s.forgetKeys()
	return m, nil
}

// Unsuspend lets a suspended merchant work again and returns it as it
// was.
func (s *Service) Unsuspend(ctx context.Context, id string) (Merchant, error) {
	m, err := s.store.Merchant(ctx, id)
	if err != nil {
		return Merchant{}, err
	}
	if m.SuspendedAt == nil {
		return Merchant{}, kassa.Errorf(kassa.EConflict, "merchant_not_suspended", "the merchant is not suspended")
	}
	if err := s.store.SetSuspended(ctx, id, nil, ""); err != nil {
		return Merchant{}, err
	}
	s.forgetKeys()
	return m, nil
}

// CheckActive returns ErrSuspended when the merchant is suspended (a
// database read: for paths without an API key, such as the hosted pages
// and the payout jobs).
func (s *Service) CheckActive(ctx context.Context, id string) error {
	m, err := s.store.Merchant(ctx, id)
	if err != nil {
		return err
	}
	if m.SuspendedAt != nil {
		return ErrSuspended
	}
	return nil
}
