package payment

import (
	"context"
	"fmt"

	"github.com/kassa/kassa/money"
)

// VoucherLeft is what is left on one voucher a payment was paid with.
type VoucherLeft struct {
	// Seq is the voucher's place among the PINs the payer sent (0 the
	// first): the page matches it to the PIN typed, which Kassa does not
	// keep.
	Seq      int
	Serial   string // printed on the voucher; pages show its tail only
	Left     money.Amount
	Currency money.Currency
}

// VouchersLeft reads what is left on each voucher p was paid with, in
// PIN order, as the voucher service has it now (at most PINsMax reads).
// It is for the payer's receipt right after paying: a voucher's balance
// is its holder's, so callers show it only to whoever just typed the PINs.
func (s *Service) VouchersLeft(ctx context.Context, p Payment) ([]VoucherLeft, error) {
	if p.MethodType != MethodVoucher || len(p.Vouchers) > PINsMax {
		return nil, nil
	}
	out := make([]VoucherLeft, 0, len(p.Vouchers))
	for _, u := range p.Vouchers {
		v, err := s.cfg.Vouchers.Refresh(ctx, u.Serial)
		if err != nil {
			return nil, fmt.Errorf("payment %s: balance of voucher %s: %w", p.ID, u.Serial, err)
		}
		out = append(out, VoucherLeft{Seq: u.Seq, Serial: v.Serial, Left: v.Balance, Currency: v.Currency})
	}
	return out, nil
}
