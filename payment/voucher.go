package payment

// The voucher method: up to PINsMax prepaid voucher PINs pay one payment.
//
// Each voucher is a ledger account voucher:<serial> that can never go
// negative. Paying with several PINs is a linked chain (all or nothing):
//
//   - authorization: pay:<id>:auth:<n> voucher → merchant per voucher
//     used (n: the PIN's place), pending with the ledger timeout of the
//     capture window when held, posted with automatic capture;
//   - capture: post them in PIN order up to the captured amount
//     (pay:<id>:capture:<n>, the last one partly), void the rest
//     (pay:<id>:release:<n>);
//   - cancel / expiry: void them all (pay:<id>:release:<n>);
//   - refund re_X: merchant → vouchers in reverse PIN order, each up to
//     what it paid and was not refunded yet (re_X:<n>).
//
// No outside party: every step is one ledger call. Vouchers cannot be
// refilled, so a voucher payment is not paid out to its vouchers.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/voucher"
)

func init() { RegisterMethod(voucherMethod{}) }

// codeVouchersShort refuses vouchers that together do not cover the
// amount: a declined try.
const codeVouchersShort = "voucher_balance_insufficient"

type voucherMethod struct{}

var (
	_ Method           = voucherMethod{}
	_ moneyMover       = voucherMethod{}
	_ refusalExplainer = voucherMethod{}
)

func (voucherMethod) Name() string { return MethodVoucher }

func (voucherMethod) Enabled(*Service) error { return nil }

// Accounts: voucher accounts exist from their issue.
func (voucherMethod) Accounts(money.Currency) []ledger.Account { return nil }

func voucherAccount(serial string) string { return "voucher:" + serial }

func (voucherMethod) Resolve(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Instrument, error) {
	switch n := len(req.PINs); {
	case n == 0:
		return Instrument{}, kassa.Invalid("pins", "pins_required", "send the PIN of at least one voucher")
	case n > PINsMax:
		return Instrument{}, kassa.Invalid("pins", "too_many_pins", "at most %d PINs per payment, got %d", PINsMax, n)
	}
	vs, err := s.cfg.Vouchers.Resolve(ctx, req.PINs, voucher.AttemptContext{MerchantID: p.MerchantID, PaymentID: p.ID, ClientIP: req.ClientIP})
	if err != nil {
		return Instrument{Risk: RiskView{Method: risk.MethodVoucher}}, err
	}
	view := RiskView{Method: risk.MethodVoucher, VoucherSerial: vs[0].Serial, ExtraVoucherSerials: voucherSerials(vs[1:])}
	uses, err := allocate(p, vs)
	if err != nil {
		return Instrument{Risk: view, Decline: kassa.AsError(err).Code == codeVouchersShort}, err
	}
	return Instrument{Risk: view, Use: func(p *Payment) { p.Vouchers = uses }, Anonymous: true}, nil
}

// allocate takes the payment's amount from the vouchers in PIN order, each
// up to its balance; vouchers not needed are not charged.
func allocate(p Payment, vs []voucher.Voucher) ([]VoucherUse, error) {
	remaining := p.Amount
	var uses []VoucherUse
	var total money.Amount
	for i, v := range vs {
		if v.Currency != p.Currency {
			return nil, kassa.Invalid(fmt.Sprintf("pins[%d]", i), "voucher_currency_mismatch",
				"the voucher is in %s, the payment in %s", v.Currency, p.Currency)
		}
		total, _ = total.Add(v.Balance)
		take := min(v.Balance, remaining)
		if take > 0 {
			uses = append(uses, VoucherUse{Seq: i, Serial: v.Serial, Amount: take})
			remaining -= take
		}
	}
	if remaining > 0 {
		return nil, kassa.Invalid("pins", codeVouchersShort,
			"the vouchers hold %d of the %d needed; add another voucher", total, p.Amount)
	}
	return uses, nil
}

// voucherSerials are the serials of vs: what risk checks besides the
// first voucher of a payment.
func voucherSerials(vs []voucher.Voucher) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Serial
	}
	return out
}

// voucherFailures are the failure codes of vouchers that can no longer pay.
var voucherFailures = map[voucher.Status]string{
	voucher.StatusLocked:      voucher.CodeLocked,
	voucher.StatusExpired:     voucher.CodeExpired,
	voucher.StatusInvalidated: voucher.CodeInvalidated,
	voucher.StatusDepleted:    voucher.CodeDepleted,
}

func (voucherMethod) Recheck(ctx context.Context, s *Service, p Payment) (string, RiskView, error) {
	view := RiskView{Method: risk.MethodVoucher}
	for i, u := range p.Vouchers {
		v, err := s.cfg.Vouchers.Refresh(ctx, u.Serial)
		if err != nil {
			return "", view, err
		}
		if code, bad := voucherFailures[v.Status]; bad {
			return code, view, nil
		}
		if i == 0 {
			view.VoucherSerial = u.Serial
		} else {
			view.ExtraVoucherSerials = append(view.ExtraVoucherSerials, u.Serial)
		}
	}
	return "", view, nil
}

func (voucherMethod) Authorize(ctx context.Context, s *Service, p Payment, next *Payment, hold bool) (Authorization, error) {
	ts := make([]ledger.Transfer, len(next.Vouchers))
	for i, u := range next.Vouchers {
		ts[i] = ledger.Transfer{ID: fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq), DebitAccountID: voucherAccount(u.Serial),
			CreditAccountID: creditAccount(p), Amount: u.Amount, Currency: p.Currency, Code: 10}
		if !hold {
			next.Vouchers[i].Captured = u.Amount
		}
	}
	return Authorization{Transfers: linkChain(ts)}, nil
}

// explainRefusal explains a ledger refusal to the payer: a voucher whose
// balance went below what it was charged (a concurrent payment spent it).
func (voucherMethod) explainRefusal(err error, next Payment) error {
	var lr *ledgerRefusal
	if errors.As(err, &lr) && lr.code == ledger.ExceedsCredits && lr.index < len(next.Vouchers) {
		return kassa.Invalid(fmt.Sprintf("pins[%d]", next.Vouchers[lr.index].Seq), "voucher_balance_insufficient",
			"the voucher's balance changed; it no longer covers its share")
	}
	return err
}

func (voucherMethod) Capture(ctx context.Context, s *Service, p Payment, amount money.Amount, next *Payment) ([]ledger.Transfer, error) {
	next.Vouchers = append([]VoucherUse(nil), p.Vouchers...)
	var ts []ledger.Transfer
	remaining := amount
	for i, u := range next.Vouchers {
		auth := fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq)
		if remaining > 0 {
			take := min(remaining, u.Amount)
			remaining -= take
			next.Vouchers[i].Captured = take
			ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("pay:%s:capture:%d", p.ID, u.Seq), PendingID: auth,
				Amount: take, Flags: ledger.FlagPostPending})
		} else {
			ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("pay:%s:release:%d", p.ID, u.Seq), PendingID: auth,
				Flags: ledger.FlagVoidPending})
		}
	}
	return linkChain(ts), nil
}

func (voucherMethod) Void(ctx context.Context, s *Service, p Payment) ([]ledger.Transfer, error) {
	ts := make([]ledger.Transfer, len(p.Vouchers))
	for i, u := range p.Vouchers {
		ts[i] = ledger.Transfer{ID: fmt.Sprintf("pay:%s:release:%d", p.ID, u.Seq),
			PendingID: fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq), Flags: ledger.FlagVoidPending}
	}
	return ts, nil
}

func (voucherMethod) Refund(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, error) {
	next.Vouchers = append([]VoucherUse(nil), p.Vouchers...)
	var ts []ledger.Transfer
	remaining := r.Amount
	for i := len(next.Vouchers) - 1; i >= 0 && remaining > 0; i-- {
		u := &next.Vouchers[i]
		take := min(remaining, u.Captured-u.Refunded)
		if take <= 0 {
			continue
		}
		remaining -= take
		u.Refunded += take
		ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("%s:%d", r.ID, u.Seq),
			DebitAccountID: creditAccount(p), CreditAccountID: voucherAccount(u.Serial),
			Amount: take, Currency: p.Currency, Code: 11})
	}
	if remaining != 0 {
		panic(fmt.Sprintf("payment %s: refund of %d leaves %d unallocated", p.ID, r.Amount, remaining))
	}
	return linkChain(ts), nil
}

// Payout: a voucher cannot be refilled.
func (voucherMethod) Payout(context.Context, *Service, Payment, money.Amount) error {
	return ErrPayoutUnsupported
}

// moved brings the vouchers' statuses in line with their balances after
// money moved; reconciliation repairs what fails here.
func (voucherMethod) moved(ctx context.Context, s *Service, p Payment) {
	for _, u := range p.Vouchers {
		if _, err := s.cfg.Vouchers.Refresh(context.WithoutCancel(ctx), u.Serial); err != nil {
			s.log.Warn("refresh voucher after payment", "serial", u.Serial, "err", err)
		}
	}
}

func (voucherMethod) Describe(p Payment) (*MethodJSON, *NextAction) {
	m := &MethodJSON{Type: MethodVoucher}
	for _, u := range p.Vouchers {
		m.Vouchers = append(m.Vouchers, VoucherJSON{Serial: u.Serial, Amount: int64(u.Amount),
			Captured: int64(u.Captured), Refunded: int64(u.Refunded)})
	}
	return m, nil
}

// Check compares a voucher payment with its ledger transfers.
func (voucherMethod) Check(ctx context.Context, s *Service, p Payment, bad func(string, ...any)) error {
	var authorized, captured, refunded money.Amount
	for _, u := range p.Vouchers {
		authorized += u.Amount
		captured += u.Captured
		refunded += u.Refunded
		auth := fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq)
		t, _, err := s.led.Transfer(ctx, "", auth)
		if errors.Is(err, ledger.ErrNotFound) {
			bad("ledger transfer %s missing", auth)
			continue
		} else if err != nil {
			return err
		}
		if t.Amount != u.Amount || t.DebitAccountID != voucherAccount(u.Serial) || t.Currency != p.Currency {
			bad("ledger transfer %s is %d %s from %s, the payment says %d from voucher %s",
				auth, t.Amount, t.Currency, t.DebitAccountID, u.Amount, u.Serial)
		}
		if t.Flags&ledger.FlagPending == 0 {
			continue
		}
		st, err := s.led.PendingStatus(ctx, "", auth)
		if err != nil {
			return err
		}
		switch p.Status {
		case StatusAuthorized:
			if st.State != ledger.StatePending && st.State != ledger.StateExpired {
				bad("authorization %s is %s in the ledger", auth, st.State)
			}
		case StatusCaptured:
			if (u.Captured > 0 && (st.State != ledger.StatePosted || st.AmountPosted != u.Captured)) ||
				(u.Captured == 0 && st.State == ledger.StatePosted) {
				bad("authorization %s is %s (%d posted), the payment captured %d", auth, st.State, st.AmountPosted, u.Captured)
			}
		default:
			if st.State == ledger.StatePending || st.State == ledger.StatePosted {
				bad("authorization %s is %s, the payment is %s", auth, st.State, p.Status)
			}
		}
	}
	if len(p.Vouchers) > 0 && authorized != p.Amount {
		bad("vouchers were charged %d of the %d", authorized, p.Amount)
	}
	if captured != p.AmountCaptured || refunded != p.AmountRefunded {
		bad("vouchers say %d captured and %d refunded, the payment %d and %d", captured, refunded, p.AmountCaptured, p.AmountRefunded)
	}
	refunds, err := s.store.Refunds(ctx, p.ID)
	if err != nil {
		return err
	}
	var sum money.Amount
	for _, r := range refunds {
		sum += r.Amount
		var moved money.Amount
		for _, u := range p.Vouchers {
			t, _, err := s.led.Transfer(ctx, "", fmt.Sprintf("%s:%d", r.ID, u.Seq))
			if err == nil {
				moved += t.Amount
			} else if !errors.Is(err, ledger.ErrNotFound) {
				return err
			}
		}
		if moved != r.Amount {
			bad("refund %s moved %d in the ledger, it says %d", r.ID, moved, r.Amount)
		}
	}
	if sum != p.AmountRefunded {
		bad("refunds add up to %d, the payment says %d refunded", sum, p.AmountRefunded)
	}
	return nil
}

// VoucherCheck is what one PIN, checked as the payer enters it, would
// pay of an open payment: Covers of the voucher's Balance, Remaining still
// to pay with it alone.
type VoucherCheck struct {
	Balance   money.Amount
	Currency  money.Currency
	Covers    money.Amount
	Remaining money.Amount
}

// CheckVoucherPIN checks one PIN for the payment page, as it is entered.
// It spends the same guess limits as a confirmation with that PIN: the
// voucher service's Resolve counts a wrong PIN against the payment and
// the client IP, and a voucher that cannot pay against its serial too,
// and refuses while any of them is locked out. So guessing PINs through
// the check is no cheaper than through Confirm. Errors: those of Confirm
// for the payment's state and client secret, and Resolve's for the PIN
// (Param "pins[0]"); voucher_currency_mismatch for a voucher in another
// currency.
func (s *Service) CheckVoucherPIN(ctx context.Context, id, clientSecret, pin, clientIP string) (VoucherCheck, error) {
	p, err := s.store.Payment(ctx, "", id)
	if err != nil {
		return VoucherCheck{}, err
	}
	if !secretOK(p, clientSecret) {
		return VoucherCheck{}, kassa.Invalid("client_secret", "client_secret_invalid", "the client_secret does not belong to this payment")
	}
	switch {
	case p.Status != StatusRequiresAction:
		return VoucherCheck{}, stateError(p, "only a payment that requires action takes vouchers")
	case p.Risk.Challenge == ChallengePending:
		return VoucherCheck{}, kassa.Errorf(kassa.EConflict, "payment_challenge_required",
			"the payment waits for the payer's %s challenge", p.Risk.Factor)
	case !s.now().UTC().Before(p.ExpiresAt):
		return VoucherCheck{}, kassa.Errorf(kassa.EConflict, "payment_expired", "the payment expired before it was paid")
	}
	if _, ok := inFlight(p); ok {
		return VoucherCheck{}, stateError(p, "a try is under way")
	}
	vs, err := s.cfg.Vouchers.Resolve(ctx, []string{pin}, voucher.AttemptContext{MerchantID: p.MerchantID, PaymentID: p.ID, ClientIP: clientIP})
	if err != nil {
		return VoucherCheck{}, err
	}
	v := vs[0]
	if v.Currency != p.Currency {
		return VoucherCheck{}, kassa.Invalid("pins[0]", "voucher_currency_mismatch",
			"the voucher is in %s, the payment in %s", v.Currency, p.Currency)
	}
	covers := min(v.Balance, p.Amount)
	return VoucherCheck{Balance: v.Balance, Currency: v.Currency, Covers: covers, Remaining: p.Amount - covers}, nil
}

// VoucherTriesLeft is how many more wrong PINs the payment p (and the
// client IP) take before paying with vouchers is locked out, and when a
// lockout in force ends (zero when none is).
func (s *Service) VoucherTriesLeft(ctx context.Context, p Payment, clientIP string) (int, time.Time, error) {
	return s.cfg.Vouchers.TriesLeft(ctx, voucher.AttemptContext{MerchantID: p.MerchantID, PaymentID: p.ID, ClientIP: clientIP})
}
