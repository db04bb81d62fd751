package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/policy"
	"github.com/kassa/kassa/webhook"
)

// Deposit is a payment at a merchant, about to be authorized.
type Deposit struct {
	PaymentID  string
	MerchantID string
	Amount     money.Amount
	Currency   money.Currency
	// Anonymous: the instrument names nobody (a prepaid voucher).
	Anonymous bool
	// PayerID is the payer's Kassa account (cus_...), "" none.
	PayerID string
	// CustomerID and CustomerCountry are the payer as the merchant named
	// them on the payment ("" none).
	CustomerID      string
	CustomerCountry string
}

// payer is what Admit found out about the payer.
type payer struct {
	account   *Account
	level     policy.Level
	residence string
}

// Admit decides whether a deposit may be authorized; nil lets it. Only
// deposits at gambling merchants are bound. In order: the payer's (and
// the merchant's for its customer) self-exclusion and cool-off, the
// minimum age, the identity level the rules ask for, anonymous
// vouchers, the self-exclusion registers consulted at deposit, and the
// deposit limits (the payer's, the merchant's for its customer, the
// policy's monthly total), which are checked and counted in one
// transaction, so two deposits racing for the rest of a limit never
// both pass. A refusal is a kassa EUnprocessable error with one of the
// Code* codes, a message for the payer and Details lifts_at when it
// lifts on a date (EUnavailable self_exclusion_check_unavailable when a
// register required did not answer); it is also sent to the merchant
// as compliance.deposit_refused.
//
// The payer's residence is the country of their Kassa account's KYC
// address when there is one, else the country the merchant gave on the
// payment (customer.billing_country), else unknown.
func (s *Service) Admit(ctx context.Context, d Deposit) error {
	m, err := s.merchant(ctx, d.MerchantID)
	if err != nil {
		return err
	}
	if !m.Gambling() {
		return nil
	}
	now := s.now().UTC()
	who, err := s.payer(ctx, d)
	if err != nil {
		return err
	}
	rules := s.cfg.Policies.For(m.Country, who.residence)
	err = s.admit(ctx, d, who, rules, now)
	if e := kassa.AsError(err); e != nil && (e.Kind == kassa.EUnprocessable || e.Code == CodeRegisterUnavailable) {
		s.refused(ctx, d, e, rules, now)
	}
	return err
}

func (s *Service) payer(ctx context.Context, d Deposit) (payer, error) {
	who := payer{level: policy.LevelNone, residence: strings.ToUpper(d.CustomerCountry)}
	if d.PayerID == "" || s.cfg.Accounts == nil {
		return who, nil
	}
	a, err := s.cfg.Accounts.Account(ctx, d.PayerID)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return who, nil
	} else if err != nil {
		return who, err
	}
	who.account, who.level = &a, a.Level
	if a.Country != "" {
		who.residence = a.Country
	}
	return who, nil
}

// subjects are the limit subjects a deposit counts for: the payer's
// Kassa account, and the merchant's customer (by its id and by the
// payer's cus_ id, which a merchant may set limits on too).
func subjects(d Deposit) (account *Subject, merchants []Subject) {
	if d.PayerID != "" {
		account = &Subject{CustomerID: d.PayerID}
	}
	if d.CustomerID != "" {
		merchants = append(merchants, Subject{MerchantID: d.MerchantID, CustomerID: d.CustomerID})
	}
	if d.PayerID != "" && d.PayerID != d.CustomerID {
		merchants = append(merchants, Subject{MerchantID: d.MerchantID, CustomerID: d.PayerID})
	}
	return account, merchants
}

func (s *Service) admit(ctx context.Context, d Deposit, who payer, rules policy.Rules, now time.Time) error {
	account, merchantSubs := subjects(d)
	all := merchantSubs
	if account != nil {
		all = append([]Subject{*account}, merchantSubs...)
	}
	limits := make([]Limits, 0, len(all))
	for _, sub := range all {
		l, err := s.cfg.Store.Limits(ctx, sub)
		if err != nil {
			return err
		}
		l.Subject = sub
		l = l.At(now)
		if barred, until, coolOff := l.Excluded(now); barred {
			msg := "You have excluded yourself from gambling deposits"
			if coolOff {
				msg = "You are taking a break from gambling deposits"
			}
			if until.IsZero() {
				msg += " indefinitely. No money was taken."
			} else {
				msg += " until " + until.Format("2 January 2006 15:04 MST") + ". No money was taken."
			}
			return refusal(CodeSelfExcluded, "", msg, until, map[string]any{"cool_off": coolOff})
		}
		limits = append(limits, l)
	}
	if err := s.checkIdentity(d, who, rules, now); err != nil {
		return err
	}
	if err := s.checkRegisters(ctx, who, rules, policy.AtDeposit, now); err != nil {
		return err
	}
	windows, err := depositWindows(d, who, account, limits, rules, now.In(rules.Location()))
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(all))
	for _, sub := range all {
		keys = append(keys, sub.Key())
	}
	if w, ok := thresholdWindow(d, who, rules); ok {
		if len(keys) == 0 && d.Amount > w.Max {
			// Nobody to count for: the deposit alone is all Kassa can see.
			return refusal(CodeKYCRequired, "", kycMessage(w.Level, who), time.Time{},
				map[string]any{"level": string(w.Level), "source": w.Source})
		}
		windows = append(windows, w)
	}
	if len(keys) == 0 {
		return nil // an anonymous payer the rules did not refuse: nothing to count against
	}
	hit, err := s.cfg.Store.Reserve(ctx, Reservation{PaymentID: d.PaymentID, MerchantID: d.MerchantID, Amount: d.Amount,
		Currency: d.Currency, At: now, Subjects: keys}, windows)
	if err != nil {
		return err
	}
	if hit != nil && hit.Level != "" {
		return refusal(CodeKYCRequired, "", kycMessage(hit.Level, who), time.Time{},
			map[string]any{"level": string(hit.Level), "source": hit.Source})
	}
	if hit != nil {
		return refusal(CodeDepositLimitReached, "amount", fmt.Sprintf(
			"This deposit would go over your deposit limit of %s. No money was taken; you can deposit again from %s.",
			formatAmount(hit.Max, hit.Currency), hit.Lifts.Format("2 January 2006")), hit.Lifts,
			map[string]any{"limit": map[string]any{"amount": hit.Max, "currency": hit.Currency}, "limit_source": hit.Source})
	}
	return nil
}

// checkIdentity applies the minimum age, the anonymous-voucher rule
// (before the level: its message says what to do about the voucher) and
// the identity level the rules ask of a deposit.
func (s *Service) checkIdentity(d Deposit, who payer, rules policy.Rules, now time.Time) error {
	if a := rules.MinimumAge; a != nil && who.account != nil && !who.account.BirthDate.IsZero() {
		adult := who.account.BirthDate.AddDate(a.Years, 0, 0)
		if now.Before(adult) {
			return refusal(CodeAgeRestricted, "", fmt.Sprintf("You must be %d or older to deposit here. No money was taken.", a.Years),
				adult, map[string]any{"source": a.Source})
		}
	}
	if v := rules.AnonymousVouchers; v != nil && d.Anonymous {
		switch {
		case v.Allowed == policy.VouchersForbidden:
			return refusal(CodeMethodNotAllowed, "payment_method.type",
				"Prepaid vouchers cannot pay for gambling here. No money was taken; please pay by card or from your Kassa balance.",
				time.Time{}, map[string]any{"source": v.Source})
		case v.Allowed == policy.VouchersVerifiedAccount && !who.level.AtLeast(policy.LevelKYCVerified):
			return refusal(CodeMethodNotAllowed, "payment_method.type",
				"Here, prepaid vouchers can pay for gambling only from a Kassa account whose holder is verified. No money was taken; log in to your verified Kassa account, or pay by card.",
				time.Time{}, map[string]any{"source": v.Source})
		}
	}
	if need, src := rules.DepositLevel(d.Amount, d.Currency); !who.level.AtLeast(need) {
		return refusal(CodeKYCRequired, "", kycMessage(need, who), time.Time{}, map[string]any{"level": string(need), "source": src})
	}
	return nil
}

func kycMessage(need policy.Level, who payer) string {
	if who.account == nil {
		return "Deposits here need a Kassa account with verified identity. No money was taken; log in to your Kassa account (or open one) and verify your identity."
	}
	if need == policy.LevelVerified {
		return "Confirm your email address and phone number in your Kassa account before you deposit. No money was taken."
	}
	return "Verify your identity in your Kassa account before you deposit here. No money was taken."
}

// checkRegisters consults every register the rules name for the moment
// (policy.AtDeposit ...). A register needs the payer's identity: a payer
// without a verified Kassa account cannot be checked, which a required
// register refuses (kyc_required).
func (s *Service) checkRegisters(ctx context.Context, who payer, rules policy.Rules, moment string, now time.Time) error {
	for _, g := range rules.Registers {
		if !g.ConsultedAt(moment) {
			continue
		}
		title := RegisterTitles[g.Register]
		if title == "" {
			title = g.Register
		}
		if who.account == nil || !who.level.AtLeast(policy.LevelKYCVerified) {
			if !g.Required {
				continue
			}
			return refusal(CodeKYCRequired, "", fmt.Sprintf(
				"Deposits here are checked against %s, which needs your verified identity. No money was taken; verify your identity in your Kassa account.", title),
				time.Time{}, map[string]any{"register": g.Register, "source": g.Source})
		}
		reg := s.cfg.Registers[g.Register]
		if reg == nil {
			reg = Unconfigured{RegisterName: g.Register}
		}
		ans, err := reg.Check(ctx, who.account.Person)
		if err != nil {
			s.log.WarnContext(ctx, "self-exclusion register did not answer", "register", g.Register, "required", g.Required, "err", err)
			if !g.Required {
				continue
			}
			return &kassa.Error{Kind: kassa.EUnavailable, Code: CodeRegisterUnavailable, Message: fmt.Sprintf(
				"We cannot reach %s right now, and the rules here allow no deposit without that check. No money was taken; please try again in a few minutes.", title),
				Details: map[string]any{"register": g.Register, "source": g.Source}}
		}
		if ans.Excluded {
			msg := fmt.Sprintf("You are registered in %s as excluded from gambling", title)
			if !ans.Until.IsZero() {
				msg += " until " + ans.Until.Format("2 January 2006")
			}
			return refusal(CodeSelfExcluded, "", msg+". No money was taken.", ans.Until, map[string]any{"register": g.Register})
		}
	}
	return nil
}

// depositWindows are the limits a deposit counts against, their periods
// on the calendar of now's location (the rules'). A limit in another
// currency than the deposit's cannot count it: the deposit is refused
// rather than let past the limit.
func depositWindows(d Deposit, who payer, account *Subject, limits []Limits, rules policy.Rules, now time.Time) ([]Window, error) {
	var ws []Window
	for _, l := range limits {
		for _, p := range Periods {
			lim, ok := l.Deposit[p]
			if !ok {
				continue
			}
			src := "payer"
			if l.Subject.MerchantID != "" {
				src = "merchant"
			}
			if lim.Currency != d.Currency {
				return nil, refusal(CodeDepositLimitReached, "currency", fmt.Sprintf(
					"Your deposit limit is set in %s, so a deposit in %s cannot be counted against it. No money was taken; deposit in %s.",
					lim.Currency, d.Currency, lim.Currency), time.Time{}, nil)
			}
			ws = append(ws, Window{Subject: l.Subject.Key(), Currency: lim.Currency, From: p.Start(now), Lifts: p.End(now),
				Max: lim.Amount, Source: src})
		}
	}
	if r := rules.MonthlyDepositLimit; r != nil {
		var sub string
		switch {
		case r.CrossOperator && account != nil:
			sub = account.Key()
		case d.CustomerID != "":
			sub = Subject{MerchantID: d.MerchantID, CustomerID: d.CustomerID}.Key()
		case d.PayerID != "":
			sub = Subject{MerchantID: d.MerchantID, CustomerID: d.PayerID}.Key()
		default:
			return nil, refusal(CodeKYCRequired, "", "Deposits here count against a monthly limit, which needs to know who you are. No money was taken; log in to your Kassa account.",
				time.Time{}, map[string]any{"source": r.Source})
		}
		if r.Currency != d.Currency {
			return nil, refusal(CodeDepositLimitReached, "currency", fmt.Sprintf(
				"Deposits here are limited in %s; a deposit in %s cannot be counted. No money was taken; deposit in %s.",
				r.Currency, d.Currency, r.Currency), time.Time{}, map[string]any{"source": r.Source})
		}
		var birth time.Time
		if who.account != nil {
			birth = who.account.BirthDate
		}
		ws = append(ws, Window{Subject: sub, Currency: r.Currency, From: Month.Start(now), Lifts: Month.End(now),
			Max: r.For(birth, now), Source: r.Source})
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Lifts.Before(ws[j].Lifts) })
	return ws, nil
}

// thresholdWindow is a cumulative identity threshold (a
// KYCAboveAmount the rules state as a running total: Malta's 2,000
// euros, Denmark's 10,000 kroner on a temporary account) as a window
// over the payer's deposits at this merchant since the start, counted
// under the same lock as the limits; ok is false when none applies (no
// such rule, another currency, or the payer has the level).
func thresholdWindow(d Deposit, who payer, rules policy.Rules) (Window, bool) {
	a := rules.KYCAboveAmount
	if a == nil || !a.Cumulative || a.Currency != d.Currency || who.level.AtLeast(a.Level) {
		return Window{}, false
	}
	w := Window{Currency: a.Currency, From: time.Unix(0, 0).UTC(), Max: a.Amount, Source: a.Source, Level: a.Level}
	switch {
	case d.CustomerID != "":
		w.Subject = Subject{MerchantID: d.MerchantID, CustomerID: d.CustomerID}.Key()
	case d.PayerID != "":
		w.Subject = Subject{MerchantID: d.MerchantID, CustomerID: d.PayerID}.Key()
	}
	return w, true
}

// refused tells the merchant (compliance.deposit_refused) and the log;
// neither names the payer beyond the payment.
func (s *Service) refused(ctx context.Context, d Deposit, e *kassa.Error, rules policy.Rules, now time.Time) {
	s.log.InfoContext(ctx, "deposit refused", "payment", d.PaymentID, "merchant", d.MerchantID, "code", e.Code,
		"jurisdiction", rules.Jurisdiction)
	body := map[string]any{"object": "deposit_refusal", "payment": d.PaymentID, "code": e.Code,
		"jurisdiction": rules.Jurisdiction, "amount": d.Amount, "currency": d.Currency}
	if t := LiftsAt(e); !t.IsZero() {
		body["lifts_at"] = t
	}
	data, err := json.Marshal(body)
	if err != nil {
		return
	}
	ev := webhook.Event{ID: s.cfg.IDs.New("evt"), MerchantID: d.MerchantID, Type: EventDepositRefused, Created: now, Data: data}
	if err := s.cfg.Store.AppendEvents(ctx, []webhook.Event{ev}); err != nil {
		s.log.ErrorContext(ctx, "deposit refusal event", "payment", d.PaymentID, "err", err)
	}
}

// CheckWithdrawal decides whether money may leave a gambling merchant
// for its customer (a payout): the identity level the rules ask of a
// withdrawal. customerID is the payout's customer, a Kassa account
// (cus_...) or the merchant's own id (known to Kassa as no account).
// Self-excluded payers may withdraw what is theirs.
func (s *Service) CheckWithdrawal(ctx context.Context, merchantID, customerID, customerCountry string) error {
	m, err := s.merchant(ctx, merchantID)
	if err != nil {
		return err
	}
	if !m.Gambling() {
		return nil
	}
	who, err := s.payer(ctx, Deposit{PayerID: customerID, CustomerCountry: customerCountry})
	if err != nil {
		return err
	}
	rules := s.cfg.Policies.For(m.Country, who.residence)
	need, src := rules.WithdrawalLevel()
	if who.level.AtLeast(need) {
		return nil
	}
	msg := "Withdrawals need a Kassa account with verified identity: verify your identity in your Kassa account first."
	return refusal(CodeKYCRequired, "customer.id", msg, time.Time{}, map[string]any{"level": string(need), "source": src})
}

// CheckMoment consults the registers a payer's jurisdiction asks for at
// sign-up or login (policy.AtSignup, policy.AtLogin) for a Kassa
// account at a gambling merchant licensed in licence, unconfigured
// registers failing closed. identity's own sign-up and login checks go
// through IdentityExclusion instead (no merchant; unconfigured
// registers are not asked).
func (s *Service) CheckMoment(ctx context.Context, moment, licence, customerID string) error {
	who, err := s.payer(ctx, Deposit{PayerID: customerID})
	if err != nil {
		return err
	}
	return s.checkRegisters(ctx, who, s.cfg.Policies.For(licence, who.residence), moment, s.now().UTC())
}

func formatAmount(a money.Amount, cur money.Currency) string {
	exp, _ := cur.Exponent()
	if exp == 0 {
		return fmt.Sprintf("%d %s", a, cur)
	}
	div := int64(1)
	for range exp {
		div *= 10
	}
	return fmt.Sprintf("%d.%0*d %s", int64(a)/div, exp, int64(a)%div, cur)
}

// PaymentGate is the Service as the payment lifecycle's Gate.
type PaymentGate struct{ *Service }

var _ payment.Gate = PaymentGate{}

// Admit admits a confirmation (Service.Admit).
func (g PaymentGate) Admit(ctx context.Context, d payment.GateRequest) error {
	return g.Service.Admit(ctx, Deposit{PaymentID: d.PaymentID, MerchantID: d.MerchantID, Amount: d.Amount,
		Currency: d.Currency, Anonymous: d.Anonymous, PayerID: d.PayerID, CustomerID: d.Customer.ID,
		CustomerCountry: d.Customer.BillingCountry})
}
