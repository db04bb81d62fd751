// Package policy holds the rules that differ by jurisdiction as data: one
// file per jurisdiction (DE, AT, GB, SE, DK, NL, MT ship embedded), each
// rule with the source it comes from. The operator edits them without a
// rebuild: Kassa writes the shipped files into the data directory's
// policies/ on first start, a file there replaces the shipped one of its
// jurisdiction, and every file is checked at start and by `kassa policy
// check` (a bad file stops the start with a plain error naming it).
//
// The rules bind gambling merchants (merchant.CategoryGambling) only.
// For a deposit, Kassa applies the rules of the merchant's licence
// country and of the payer's residence together, the stricter of the two
// for each rule (For); docs/compliance.md says why.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the policies' zones, on machines without a zone database

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
)

// Level is the identity level a Kassa account reached (identity.Level's
// values) or LevelNone for a payer Kassa knows no account of.
type Level string

// Levels, weakest first.
const (
	LevelNone        Level = "none"
	LevelVerified    Level = "verified"     // email and phone confirmed, password set
	LevelKYCVerified Level = "kyc_verified" // identity data checked
)

func (l Level) rank() int {
	switch l {
	case LevelVerified:
		return 1
	case LevelKYCVerified:
		return 2
	}
	return 0
}

// AtLeast reports whether l is min or stronger.
func (l Level) AtLeast(min Level) bool { return l.rank() >= min.rank() }

func (l Level) valid() bool { return l == LevelNone || l == LevelVerified || l == LevelKYCVerified }

// Where a self-exclusion register is consulted.
const (
	AtSignup  = "signup"
	AtLogin   = "login"
	AtDeposit = "deposit"
)

// Anonymous prepaid vouchers for gambling.
const (
	VouchersAllowed         = "allowed"
	VouchersForbidden       = "forbidden"
	VouchersVerifiedAccount = "verified_account" // only paid from a KYC-verified Kassa account
)

// Rules are one jurisdiction's rules as its file states them, or the
// rules in force for a licence country and a residence (For). A nil rule
// is no rule. Every rule carries Source: the provision it comes from.
type Rules struct {
	Jurisdiction string `yaml:"jurisdiction"` // ISO 3166-1 alpha-2; "DE+SE" when merged
	Name         string `yaml:"name"`
	Regulator    string `yaml:"regulator"`
	// TimeZone is the IANA zone whose calendar a "day", "week" and
	// "month" of a limit follow ("Europe/Berlin"); "" is UTC.
	TimeZone string `yaml:"time_zone"`

	MinimumAge          *AgeRule       `yaml:"minimum_age"`
	KYCBeforeDeposit    *LevelRule     `yaml:"kyc_before_deposit"`
	KYCBeforeWithdrawal *LevelRule     `yaml:"kyc_before_withdrawal"`
	KYCAboveAmount      *AmountRule    `yaml:"kyc_above_amount"`
	AnonymousVouchers   *VoucherRule   `yaml:"anonymous_vouchers"`
	MonthlyDepositLimit *LimitRule     `yaml:"monthly_deposit_limit"`
	Credit              *CreditRule    `yaml:"credit_for_gambling"`
	Registers           []RegisterRule `yaml:"self_exclusion_registers"`
	AMLRetention        *RetentionRule `yaml:"aml_retention"`
}

// AgeRule: payers younger than Years may not gamble.
type AgeRule struct {
	Years  int    `yaml:"years"`
	Source string `yaml:"source"`
}

// LevelRule: the Kassa account must have reached Level.
type LevelRule struct {
	Level  Level  `yaml:"level"`
	Source string `yaml:"source"`
}

// AmountRule: a deposit of more than Amount (minor units of Currency)
// needs an account of Level. Cumulative: the payer's deposits at the
// merchant so far, this one included, count (a threshold the rules
// state as a running total, such as Malta's 2,000 euros); they are
// summed under the same lock as the deposit limits.
type AmountRule struct {
	Amount     money.Amount   `yaml:"amount"`
	Currency   money.Currency `yaml:"currency"`
	Level      Level          `yaml:"level"`
	Cumulative bool           `yaml:"cumulative"`
	Source     string         `yaml:"source"`
}

// VoucherRule says whether anonymous prepaid vouchers may fund gambling:
// Allowed is one of VouchersAllowed, VouchersForbidden,
// VouchersVerifiedAccount.
type VoucherRule struct {
	Allowed string `yaml:"allowed"`
	Source  string `yaml:"source"`
}

// LimitRule is a mandatory limit on a payer's deposits per calendar
// month; CrossOperator: summed over every gambling merchant the payer
// deposits at through Kassa (Germany's LUGAS), else per merchant.
type LimitRule struct {
	Amount        money.Amount   `yaml:"amount"`
	Currency      money.Currency `yaml:"currency"`
	CrossOperator bool           `yaml:"cross_operator"`
	// Young is the lower limit of payers younger than its BelowAge.
	Young  *YoungLimit `yaml:"young"`
	Source string      `yaml:"source"`
}

// YoungLimit is a monthly limit for young adults: payers whose KYC date
// of birth makes them younger than BelowAge (or whose age Kassa does not
// know) may deposit Amount a month, in the rule's currency.
type YoungLimit struct {
	BelowAge int          `yaml:"below_age"`
	Amount   money.Amount `yaml:"amount"`
}

// For is the monthly amount for a payer born on birth (zero: unknown)
// at now.
func (l LimitRule) For(birth, now time.Time) money.Amount {
	if l.Young == nil || (!birth.IsZero() && !now.Before(birth.AddDate(l.Young.BelowAge, 0, 0))) {
		return l.Amount
	}
	return l.Young.Amount
}

// Location is the zone of r's calendar (TimeZone; UTC when none or
// unknown: Load refuses unknown zones).
func (r Rules) Location() *time.Location {
	if r.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// CreditRule says whether credit (pay later, credit cards) may fund
// gambling.
type CreditRule struct {
	Allowed bool   `yaml:"allowed"`
	Source  string `yaml:"source"`
}

// RegisterRule names a self-exclusion register to consult, and when.
// Required: a deposit is refused while the register cannot be reached.
type RegisterRule struct {
	Register string   `yaml:"register"`
	At       []string `yaml:"at"`
	Required bool     `yaml:"required"`
	Source   string   `yaml:"source"`
}

// ConsultedAt reports whether the register is consulted at the moment
// (AtSignup, AtLogin, AtDeposit).
func (r RegisterRule) ConsultedAt(moment string) bool { return slices.Contains(r.At, moment) }

// RetentionRule is how many years after a relationship ends records
// kept for anti-money-laundering must stay (erasure waits for it).
type RetentionRule struct {
	Years  int    `yaml:"years"`
	Source string `yaml:"source"`
}

// Any reports whether r holds any rule.
func (r Rules) Any() bool {
	return r.MinimumAge != nil || r.KYCBeforeDeposit != nil || r.KYCBeforeWithdrawal != nil ||
		r.KYCAboveAmount != nil || r.AnonymousVouchers != nil || r.MonthlyDepositLimit != nil ||
		r.Credit != nil || len(r.Registers) > 0 || r.AMLRetention != nil
}

// DepositLevel is the account level a deposit of amount in cur needs
// under r, and the source of the rule that asks for it ("" none). A
// cumulative KYCAboveAmount is not in it: it needs the payer's total
// (package compliance counts it).
func (r Rules) DepositLevel(amount money.Amount, cur money.Currency) (Level, string) {
	level, source := LevelNone, ""
	if r.KYCBeforeDeposit != nil {
		level, source = r.KYCBeforeDeposit.Level, r.KYCBeforeDeposit.Source
	}
	if a := r.KYCAboveAmount; a != nil && !a.Cumulative && a.Currency == cur && amount > a.Amount && !level.AtLeast(a.Level) {
		level, source = a.Level, a.Source
	}
	return level, source
}

// WithdrawalLevel is the account level a withdrawal needs under r.
func (r Rules) WithdrawalLevel() (Level, string) {
	if r.KYCBeforeWithdrawal == nil {
		return LevelNone, ""
	}
	return r.KYCBeforeWithdrawal.Level, r.KYCBeforeWithdrawal.Source
}

// CodeMethodNotAllowed is the problem code of a payment method the
// jurisdiction's rules forbid for the merchant.
const CodeMethodNotAllowed = "method_not_allowed_in_jurisdiction"

// CreditAllowed reports whether credit (a pay-later plan, any method
// that lends the payer the money) may pay merchant m for a payer
// residing in residence (ISO 3166-1 alpha-2, "" unknown): nil when it
// may; a kassa EUnprocessable method_not_allowed_in_jurisdiction error,
// worded for the payer and naming the rule's source in Details, when
// it may not. Only gambling merchants are bound: credit for gambling is
// forbidden in GB and DE as shipped. A pay-later method calls it before
// it offers or authorizes a plan.
func (s *Set) CreditAllowed(m merchant.Merchant, residence string) error {
	if !m.Gambling() {
		return nil
	}
	r := s.For(m.Country, residence)
	if r.Credit == nil || r.Credit.Allowed {
		return nil
	}
	return &kassa.Error{Kind: kassa.EUnprocessable, Code: CodeMethodNotAllowed, Param: "payment_method.type",
		Message: "paying later is not allowed for gambling here; please pay with money of your own",
		Details: map[string]any{"jurisdiction": r.Jurisdiction, "source": r.Credit.Source}}
}

// For returns the rules in force for a gambling merchant licensed in
// licence whose payer resides in residence (either "" or a country with
// no policy: only the other's rules): per rule the stricter of the two,
// each Source prefixed with its jurisdiction ("DE: GlüStV ...").
func (s *Set) For(licence, residence string) Rules {
	licence, residence = strings.ToUpper(licence), strings.ToUpper(residence)
	a, aok := s.byCode[licence]
	b, bok := s.byCode[residence]
	switch {
	case aok && bok && licence != residence:
		return merge(tagged(a), tagged(b))
	case aok:
		return tagged(a)
	case bok:
		return tagged(b)
	}
	return Rules{}
}

// Jurisdictions lists the codes with a policy, sorted.
func (s *Set) Jurisdictions() []string {
	out := make([]string, 0, len(s.byCode))
	for c := range s.byCode {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Rules returns a jurisdiction's rules as loaded.
func (s *Set) Rules(code string) (Rules, bool) {
	r, ok := s.byCode[strings.ToUpper(code)]
	return r, ok
}

// tagged returns r with each source prefixed by its jurisdiction.
func tagged(r Rules) Rules {
	tag := func(s string) string { return r.Jurisdiction + ": " + s }
	out := r
	if r.MinimumAge != nil {
		x := *r.MinimumAge
		x.Source = tag(x.Source)
		out.MinimumAge = &x
	}
	if r.KYCBeforeDeposit != nil {
		x := *r.KYCBeforeDeposit
		x.Source = tag(x.Source)
		out.KYCBeforeDeposit = &x
	}
	if r.KYCBeforeWithdrawal != nil {
		x := *r.KYCBeforeWithdrawal
		x.Source = tag(x.Source)
		out.KYCBeforeWithdrawal = &x
	}
	if r.KYCAboveAmount != nil {
		x := *r.KYCAboveAmount
		x.Source = tag(x.Source)
		out.KYCAboveAmount = &x
	}
	if r.AnonymousVouchers != nil {
		x := *r.AnonymousVouchers
		x.Source = tag(x.Source)
		out.AnonymousVouchers = &x
	}
	if r.MonthlyDepositLimit != nil {
		x := *r.MonthlyDepositLimit
		x.Source = tag(x.Source)
		out.MonthlyDepositLimit = &x
	}
	if r.Credit != nil {
		x := *r.Credit
		x.Source = tag(x.Source)
		out.Credit = &x
	}
	if r.AMLRetention != nil {
		x := *r.AMLRetention
		x.Source = tag(x.Source)
		out.AMLRetention = &x
	}
	out.Registers = nil
	for _, g := range r.Registers {
		g.Source = tag(g.Source)
		g.At = slices.Clone(g.At)
		out.Registers = append(out.Registers, g)
	}
	return out
}

// merge keeps, per rule, the stricter of a's and b's (a's on a tie).
func merge(a, b Rules) Rules {
	out := a
	out.Jurisdiction = a.Jurisdiction + "+" + b.Jurisdiction
	out.Name = a.Name + " and " + b.Name
	out.Regulator = a.Regulator + "; " + b.Regulator
	if b.TimeZone != "" {
		out.TimeZone = b.TimeZone // the payer's calendar: the residence's
	}
	if b.MinimumAge != nil && (a.MinimumAge == nil || b.MinimumAge.Years > a.MinimumAge.Years) {
		out.MinimumAge = b.MinimumAge
	}
	out.KYCBeforeDeposit = stricterLevel(a.KYCBeforeDeposit, b.KYCBeforeDeposit)
	out.KYCBeforeWithdrawal = stricterLevel(a.KYCBeforeWithdrawal, b.KYCBeforeWithdrawal)
	if b.KYCAboveAmount != nil && (a.KYCAboveAmount == nil ||
		(a.KYCAboveAmount.Currency == b.KYCAboveAmount.Currency && b.KYCAboveAmount.Amount < a.KYCAboveAmount.Amount)) {
		out.KYCAboveAmount = b.KYCAboveAmount
	}
	if b.AnonymousVouchers != nil && (a.AnonymousVouchers == nil ||
		voucherRank(b.AnonymousVouchers.Allowed) > voucherRank(a.AnonymousVouchers.Allowed)) {
		out.AnonymousVouchers = b.AnonymousVouchers
	}
	if b.MonthlyDepositLimit != nil && (a.MonthlyDepositLimit == nil ||
		(a.MonthlyDepositLimit.Currency == b.MonthlyDepositLimit.Currency && b.MonthlyDepositLimit.Amount < a.MonthlyDepositLimit.Amount)) {
		out.MonthlyDepositLimit = b.MonthlyDepositLimit
	}
	if b.Credit != nil && (a.Credit == nil || (a.Credit.Allowed && !b.Credit.Allowed)) {
		out.Credit = b.Credit
	}
	if b.AMLRetention != nil && (a.AMLRetention == nil || b.AMLRetention.Years > a.AMLRetention.Years) {
		out.AMLRetention = b.AMLRetention
	}
	out.Registers = append(slices.Clone(a.Registers), b.Registers...)
	return out
}

func stricterLevel(a, b *LevelRule) *LevelRule {
	if a == nil || (b != nil && b.Level.rank() > a.Level.rank()) {
		return b
	}
	return a
}

func voucherRank(s string) int {
	switch s {
	case VouchersVerifiedAccount:
		return 1
	case VouchersForbidden:
		return 2
	}
	return 0
}

// String is a one-line summary of r, for `kassa policy check`.
func (r Rules) String() string {
	var parts []string
	if r.MinimumAge != nil {
		parts = append(parts, fmt.Sprintf("age %d+", r.MinimumAge.Years))
	}
	if r.KYCBeforeDeposit != nil {
		parts = append(parts, "deposit: "+string(r.KYCBeforeDeposit.Level))
	}
	if r.KYCBeforeWithdrawal != nil {
		parts = append(parts, "withdrawal: "+string(r.KYCBeforeWithdrawal.Level))
	}
	if a := r.KYCAboveAmount; a != nil {
		total := ""
		if a.Cumulative {
			total = " in total"
		}
		parts = append(parts, fmt.Sprintf("above %s%s: %s", major(a.Amount, a.Currency), total, a.Level))
	}
	if r.AnonymousVouchers != nil {
		parts = append(parts, "anonymous vouchers "+r.AnonymousVouchers.Allowed)
	}
	if l := r.MonthlyDepositLimit; l != nil {
		scope := "per operator"
		if l.CrossOperator {
			scope = "across operators"
		}
		parts = append(parts, fmt.Sprintf("deposits ≤ %s a month %s", major(l.Amount, l.Currency), scope))
		if y := l.Young; y != nil {
			parts = append(parts, fmt.Sprintf("≤ %s under %d", major(y.Amount, l.Currency), y.BelowAge))
		}
	}
	if r.Credit != nil && !r.Credit.Allowed {
		parts = append(parts, "no credit")
	}
	for _, g := range r.Registers {
		parts = append(parts, fmt.Sprintf("register %s at %s", g.Register, strings.Join(g.At, "/")))
	}
	if r.AMLRetention != nil {
		parts = append(parts, fmt.Sprintf("AML retention %dy", r.AMLRetention.Years))
	}
	return strings.Join(parts, "; ")
}

// major writes an amount in major units ("1000.00 EUR").
func major(a money.Amount, cur money.Currency) string {
	exp, _ := cur.Exponent()
	div := int64(1)
	for range exp {
		div *= 10
	}
	if exp == 0 {
		return fmt.Sprintf("%d %s", a, cur)
	}
	return fmt.Sprintf("%d.%0*d %s", int64(a)/div, exp, int64(a)%div, cur)
}
