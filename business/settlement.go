package business

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

// SettlementCurrency is the one currency settlements are paid in: the bank
// rail is SEPA.
const SettlementCurrency money.Currency = "EUR"

// SettingsBank sets a merchant's settlement bank account. It is verified
// when set: the IBAN's country, length and mod-97 check digits, and a
// holder name (the bank checks the name against the account when paying).
func (s *Service) SetBankAccount(ctx context.Context, merchantID, iban, holder string) error {
	iban = payout.NormalizeIBAN(iban)
	switch code := payout.ValidateIBAN(iban); {
	case iban == "":
		return kassa.Invalid("iban", "iban_required", "iban is required")
	case code == payout.IBANChecksum:
		return kassa.Invalid("iban", code, "the IBAN has a wrong check digit (mod-97)")
	case code != "":
		return kassa.Invalid("iban", code, "the IBAN is not one of a SEPA country")
	}
	holder = strings.TrimSpace(holder)
	if holder == "" || len(holder) > payout.NameMax {
		return kassa.Invalid("account_holder", "account_holder_invalid", "account_holder is required (at most %d bytes)", payout.NameMax)
	}
	now := s.now().UTC()
	return s.update(ctx, merchantID, func(st *Settings) {
		st.IBAN, st.AccountHolder, st.BankVerified = iban, holder, now
	})
}

// SetSchedule sets a merchant's settlement schedule: manual, daily,
// weekly on a weekday (anchor 1..7, Monday = 1) or monthly on a day
// (anchor 1..31; the month's last day when it has fewer).
func (s *Service) SetSchedule(ctx context.Context, merchantID, schedule string, anchor int) error {
	switch schedule {
	case ScheduleManual, ScheduleDaily:
		anchor = 0
	case ScheduleWeekly:
		if anchor < 1 || anchor > 7 {
			return kassa.Invalid("anchor", "anchor_invalid", "a weekly schedule names a weekday from 1 (Monday) to 7 (Sunday)")
		}
	case ScheduleMonthly:
		if anchor < 1 || anchor > 31 {
			return kassa.Invalid("anchor", "anchor_invalid", "a monthly schedule names a day from 1 to 31")
		}
	default:
		return kassa.Invalid("schedule", "schedule_invalid", "schedule must be manual, daily, weekly or monthly")
	}
	return s.update(ctx, merchantID, func(st *Settings) { st.Schedule, st.Anchor = schedule, anchor })
}

// DueDay is the latest day (00:00 UTC) at or before now on which the
// schedule settles; zero for manual.
func DueDay(schedule string, anchor int, now time.Time) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch schedule {
	case ScheduleDaily:
		return day
	case ScheduleWeekly:
		wd := int(day.Weekday()) // Sunday = 0
		if wd == 0 {
			wd = 7
		}
		return day.AddDate(0, 0, -((wd - anchor + 7) % 7))
	case ScheduleMonthly:
		d := monthDay(day.Year(), day.Month(), anchor)
		if d.After(day) {
			prev := day.AddDate(0, 0, -day.Day()) // the last day of the previous month
			d = monthDay(prev.Year(), prev.Month(), anchor)
		}
		return d
	}
	return time.Time{}
}

// monthDay is day d of a month, or its last day when it has fewer.
func monthDay(y int, m time.Month, d int) time.Time {
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(y, m, min(d, last), 0, 0, 0, 0, time.UTC)
}

// ErrNothingDue: no available balance to settle.
var errNothingDue = kassa.Errorf(kassa.EUnprocessable, "settlement_nothing_due",
	"no available balance to settle: the balance transactions not yet settled that are available now sum to zero or less")

// Settle pays out the merchant's available balance transactions not yet
// settled (available_on ≤ now) to its verified bank account: one
// settlement (stl_) of their sum through the payout engine. In the
// reserve's ledger transaction the transactions are marked with the
// settlement — only those still unmarked; when their sum changed the
// settlement is refused — so nothing is settled twice, even when two
// settlements race (effects run one at a time). key, when set, derives
// the id (an Idempotency-Key, or a scheduled day).
func (s *Service) Settle(ctx context.Context, merchantID, merchantName, key string) (payout.Payout, error) {
	if s.cfg.Payouts == nil {
		return payout.Payout{}, kassa.Errorf(kassa.EUnprocessable, "settlements_unavailable", "settlements are not enabled on this server")
	}
	st, err := s.Settings(ctx, merchantID)
	if err != nil {
		return payout.Payout{}, err
	}
	if st.BankVerified.IsZero() {
		return payout.Payout{}, kassa.Errorf(kassa.EUnprocessable, "bank_account_required",
			"set a bank account for settlements first (kassa merchants settlements --iban … --holder …)")
	}
	sid := s.cfg.IDs.New("stl")
	if key != "" {
		sid = id.Derived("stl", merchantID+"\x00"+key)
		if p, err := s.cfg.Payouts.Get(ctx, merchantID, sid); err == nil {
			return p, nil
		} else if kassa.ErrorKind(err) != kassa.ENotFound {
			return payout.Payout{}, err
		}
	}
	if err := s.Sync(ctx); err != nil {
		return payout.Payout{}, err
	}
	below, err := s.store.SyncState(ctx)
	if err != nil {
		return payout.Payout{}, err
	}
	now := s.now().UTC()
	q := SettleQuery{MerchantID: merchantID, Currency: SettlementCurrency, AvailableBy: now, BelowLeaf: below}
	sum, n, err := s.store.Unsettled(ctx, q)
	if err != nil {
		return payout.Payout{}, err
	}
	if n == 0 || sum <= 0 {
		return payout.Payout{}, errNothingDue
	}
	return s.cfg.Payouts.CreateSettlement(ctx, payout.SettlementRequest{ID: sid, MerchantID: merchantID,
		MerchantName: merchantName, Amount: sum, Currency: SettlementCurrency, IBAN: st.IBAN, AccountHolder: st.AccountHolder,
		Effect: func(ctx context.Context, tx ledger.Tx) error {
			got, m, err := s.store.SettleTx(ctx, tx, q, sid)
			if err != nil {
				return err
			}
			if got != sum || m != n {
				return kassa.Errorf(kassa.EConflict, "settlement_changed",
					"the balance transactions to settle changed meanwhile (another settlement took them); retry")
			}
			return nil
		}})
}

// SettleQuery selects the balance transactions a settlement takes: the
// merchant's in Currency, not yet settled, available by AvailableBy,
// derived from ledger leaves below BelowLeaf.
type SettleQuery struct {
	MerchantID  string
	Currency    money.Currency
	AvailableBy time.Time
	BelowLeaf   int64
}

// Settlement returns one of a merchant's settlements.
func (s *Service) Settlement(ctx context.Context, merchantID, sid string) (payout.Payout, error) {
	if s.cfg.Payouts == nil || !strings.HasPrefix(sid, payout.SettlementPrefix) {
		return payout.Payout{}, notFound("settlement_not_found", "settlement")
	}
	p, err := s.cfg.Payouts.Get(ctx, merchantID, sid)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return payout.Payout{}, notFound("settlement_not_found", "settlement")
	}
	return p, err
}

// Lines sums the balance transactions a settlement pays out (its own
// reserve left out): count and sum of their net amounts.
func (s *Service) Lines(ctx context.Context, merchantID, sid string) (int, money.Amount, error) {
	if err := s.Sync(ctx); err != nil {
		return 0, 0, err
	}
	return s.store.SettlementLines(ctx, merchantID, sid)
}

// Settlements lists a page of a merchant's settlements, newest first.
func (s *Service) Settlements(ctx context.Context, merchantID, startingAfter string, limit int) ([]payout.Payout, bool, error) {
	if limit < 1 || limit > ListLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ListLimitMax)
	}
	return s.store.Settlements(ctx, merchantID, startingAfter, limit)
}

// RunSchedules settles every merchant whose schedule is due (the
// settlements job, under its lease; the clock is the service's). A day
// is settled once: the settlement's id is derived from the merchant and
// the day, and the day is recorded after.
func (s *Service) RunSchedules(ctx context.Context) (int, error) {
	due, err := s.store.Scheduled(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, st := range due {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		day := DueDay(st.Schedule, st.Anchor, s.now())
		if day.IsZero() || !day.After(st.SettledThrough) {
			continue
		}
		_, err := s.Settle(ctx, st.MerchantID, st.AccountHolder, "scheduled:"+day.Format(time.DateOnly))
		if err != nil && !errors.Is(err, errNothingDue) {
			s.log.WarnContext(ctx, "scheduled settlement", "merchant", st.MerchantID, "day", day.Format(time.DateOnly), "err", err)
			errs = append(errs, err)
			continue
		}
		if err == nil {
			n++
		}
		if err := s.store.MarkSettled(ctx, st.MerchantID, day); err != nil {
			return n, err
		}
	}
	return n, errors.Join(errs...)
}
