package payout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Limits of requests.
const (
	AmountMax            money.Amount = 100_000_000_00 // per payout, minor units
	NameMax                           = 100            // bytes of a name or account holder
	EmailMax                          = 254
	CustomerIDMax                     = 64
	MerchantReferenceMax              = 255
	MetadataMax                       = 4096
	ListLimitMax                      = 100
	AgeMin                            = 18 // years
)

// CreateRequest is what a merchant sends to pay out.
type CreateRequest struct {
	Amount            money.Amount
	Currency          string
	Customer          Customer
	Destination       Destination
	ValidateOnly      bool
	MerchantReference string
	Metadata          json.RawMessage
	CreatedBy         string // the API key making the request
	RequestKey        string // the Idempotency-Key, "" none
	// Client is where the payer asked for the payout from, as the
	// merchant saw it (optional): risk only, not stored.
	Client Client
	// withdrawal: Withdraw made the request (the payer's own, from the
	// account page); the platform merchant makes no other payouts.
	withdrawal bool
}

// Client is the payer's device and address for risk (risk.KindPayout).
type Client struct {
	IP        string `json:"ip,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Limits of Client.
const (
	ClientDeviceIDMax  = 128
	ClientUserAgentMax = 512
)

// checkClient checks the optional client fields.
func checkClient(c *checker, cl Client) {
	switch {
	case cl.IP != "" && !validIP(cl.IP):
		c.fail(CheckCustomer, "client.ip", "client_invalid", "client.ip must be an IPv4 or IPv6 address")
	case len(cl.DeviceID) > ClientDeviceIDMax:
		c.fail(CheckCustomer, "client.device_id", "client_invalid", "client.device_id may be at most %d bytes", ClientDeviceIDMax)
	case len(cl.UserAgent) > ClientUserAgentMax:
		c.fail(CheckCustomer, "client.user_agent", "client_invalid", "client.user_agent may be at most %d bytes", ClientUserAgentMax)
	}
}

// Check names.
const (
	CheckAmount      = "amount"
	CheckCurrency    = "currency"
	CheckCustomer    = "customer"
	CheckAge         = "age"
	CheckDestination = "destination"
	CheckName        = "name_match"
	CheckBalance     = "balance"
	CheckLimits      = "limits"
	CheckPolicy      = "policy"
	CheckClosedLoop  = "closed_loop"
)

// checker collects check outcomes.
type checker struct{ checks []Check }

func (c *checker) pass(name string) {
	c.checks = append(c.checks, Check{Check: name, Result: CheckPass})
}

func (c *checker) fail(name, param, code, format string, args ...any) {
	c.checks = append(c.checks, Check{Check: name, Result: CheckFail, Param: param, Code: code,
		Detail: fmt.Sprintf(format, args...)})
}

func (c *checker) failed() *Check {
	for i := range c.checks {
		if c.checks[i].Result == CheckFail {
			return &c.checks[i]
		}
	}
	return nil
}

// CheckError is the problem of a payout refused by a check: the first
// failing check's code and param, every check in Details["checks"].
func CheckError(checks []Check) *kassa.Error {
	var first *Check
	for i := range checks {
		if checks[i].Result == CheckFail {
			first = &checks[i]
			break
		}
	}
	if first == nil {
		return nil
	}
	kind := kassa.EInvalid
	switch first.Check {
	case CheckBalance, CheckLimits, CheckPolicy, CheckRisk, CheckJurisdiction:
		kind = kassa.EUnprocessable
	case CheckClosedLoop:
		if first.Code == "amount_exceeds_deposit" {
			kind = kassa.EUnprocessable
		}
	}
	return &kassa.Error{Kind: kind, Code: first.Code, Param: first.Param, Message: first.Detail,
		Details: map[string]any{"checks": checks}}
}

// Create runs every check and, unless ValidateOnly or a check failed,
// reserves the amount and stores the payout pending (or requires_review)
// in one transaction. With ValidateOnly it returns the payout as it would
// be (no id, nothing reserved) with every check's outcome; a failing check
// is then reported in Checks, not as an error.
func (s *Service) Create(ctx context.Context, merchantID string, req CreateRequest) (Payout, error) {
	if merchantID == WalletMerchant && !req.withdrawal {
		return Payout{}, kassa.Errorf(kassa.EForbidden, "platform_merchant",
			"this merchant's payouts are payers' withdrawals, made on the account page")
	}
	if s.cfg.Active != nil && merchantID != WalletMerchant {
		if err := s.cfg.Active(ctx, merchantID); err != nil {
			return Payout{}, err
		}
	}
	if s.isSplit(req.Destination) {
		return s.createSplit(ctx, merchantID, req)
	}
	now := s.now().UTC()
	c := &checker{}
	cur := s.checkRequest(c, req, now)
	p := Payout{MerchantID: merchantID, Amount: req.Amount, Currency: cur, Destination: req.Destination,
		Customer: req.Customer, MerchantReference: req.MerchantReference, Metadata: req.Metadata,
		CreatedBy: req.CreatedBy, RequestKey: req.RequestKey, Created: now, Updated: now, Version: 1}
	p.Destination.IBAN = NormalizeIBAN(p.Destination.IBAN)
	p.Rail = s.railName(p.Destination.Type)
	var dep *Deposit
	if p.Destination.Type == DestCard || p.Destination.Type == DestOriginalMethod {
		var err error
		if dep, err = s.checkClosedLoop(ctx, c, &p); err != nil {
			return Payout{}, err
		}
	}
	if p.Rail == RailWallet && id.HasPrefix(p.Customer.ID, "cus") {
		if err := s.checkKYC(ctx, c, p.Customer); err != nil {
			return Payout{}, err
		}
	}
	// Balance and limits need a valid amount and currency; they run even
	// when other checks failed, so validate_only answers every failure.
	if p.Amount > 0 && p.Amount <= AmountMax && cur != "" {
		if err := s.checkFunds(ctx, c, p, dep, now); err != nil {
			return Payout{}, err
		}
	}
	s.checkPolicy(c, p)
	if err := s.checkJurisdiction(ctx, c, p); err != nil {
		return Payout{}, err
	}
	if err := s.checkDestinationHistory(ctx, c, p); err != nil {
		return Payout{}, err
	}
	p.Checks = c.checks
	if req.ValidateOnly {
		return p, nil
	}
	if err := CheckError(p.Checks); err != nil {
		return Payout{}, err
	}
	p.ID = s.newID(merchantID, req.RequestKey)
	// Scored only when every other check passed and it is no dry run:
	// an evaluation counts the attempt in the payer's features.
	s.checkRisk(ctx, c, p, req.Client)
	p.Checks = c.checks
	if err := CheckError(p.Checks); err != nil {
		return Payout{}, err
	}
	if req.RequestKey != "" {
		prev, err := s.store.Payout(ctx, merchantID, p.ID)
		switch {
		case err == nil:
			return replay(prev, p)
		case kassa.ErrorKind(err) != kassa.ENotFound:
			return Payout{}, err
		}
	}
	p.Status = StatusPending
	for _, ch := range p.Checks {
		if ch.Result == CheckReview {
			p.Status = StatusRequiresReview
		}
	}
	if p.Destination.Type == DestBankAccount {
		p.ArrivalEstimate = now.Add(24 * time.Hour)
	} else {
		p.ArrivalEstimate = now
	}
	p, err := s.reserve(ctx, p, now, dep)
	if err != nil || p.Rail != RailWallet || p.Status != StatusPending {
		return p, err
	}
	// A wallet payout stays in Kassa's ledger: pay it now. Should that
	// fail, it is reserved and pending, and the worker pays it.
	if paid, err := s.payWalletNow(ctx, p); err == nil {
		return paid, nil
	}
	return p, nil
}

// replay answers a request repeated under the Idempotency-Key that made
// prev: prev itself, never a second payout.
func replay(prev, req Payout) (Payout, error) {
	if prev.Amount != req.Amount || prev.Currency != req.Currency || prev.Customer.ID != req.Customer.ID ||
		prev.Destination != req.Destination {
		return Payout{}, kassa.Errorf(kassa.EUnprocessable, "idempotency_key_reused",
			"this Idempotency-Key made payout %s of another amount, customer or destination; use a new key for a new request", prev.ID)
	}
	return prev, nil
}

// newID is a random po_ id, or one derived from the merchant's
// Idempotency-Key so that a retry whose first attempt committed cannot
// reserve twice (the second insert collides).
func (s *Service) newID(merchantID, key string) string {
	if key == "" {
		return s.ids.New("po")
	}
	return id.Derived("po", merchantID+"\x00"+key)
}

func (s *Service) railName(dest string) string {
	if dest == DestWallet {
		return RailWallet
	}
	if r := s.cfg.Rails[dest]; r != nil {
		return r.Name()
	}
	return ""
}

// checkRequest runs the checks that need no storage.
func (s *Service) checkRequest(c *checker, req CreateRequest, now time.Time) money.Currency {
	if req.Amount <= 0 || req.Amount > AmountMax {
		c.fail(CheckAmount, "amount", "amount_invalid", "amount must be a positive integer of minor units, at most %d", AmountMax)
	} else {
		c.pass(CheckAmount)
	}
	cur, err := money.ParseCurrency(req.Currency)
	if _, known := cur.Exponent(); err != nil || !known {
		c.fail(CheckCurrency, "currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR")
		cur = ""
	}
	cu := req.Customer
	switch {
	case cu.ID == "" || len(cu.ID) > CustomerIDMax:
		c.fail(CheckCustomer, "customer.id", "customer_required", "customer.id is required (at most %d bytes)", CustomerIDMax)
	case strings.TrimSpace(cu.FirstName) == "" || strings.TrimSpace(cu.LastName) == "" ||
		len(cu.FirstName) > NameMax || len(cu.LastName) > NameMax:
		c.fail(CheckCustomer, "customer.first_name", "customer_name_required", "customer.first_name and last_name are required (at most %d bytes each)", NameMax)
	case len(cu.Email) > EmailMax || (cu.Email != "" && !strings.Contains(cu.Email, "@")):
		c.fail(CheckCustomer, "customer.email", "customer_email_invalid", "customer.email is not an email address")
	case len(req.MerchantReference) > MerchantReferenceMax:
		c.fail(CheckCustomer, "merchant_reference", "merchant_reference_invalid", "merchant_reference may be at most %d bytes", MerchantReferenceMax)
	case len(req.Metadata) > MetadataMax:
		c.fail(CheckCustomer, "metadata", "metadata_invalid", "metadata may be at most %d bytes", MetadataMax)
	default:
		c.pass(CheckCustomer)
	}
	checkClient(c, req.Client)
	s.checkAge(c, cu.DateOfBirth, now)
	s.checkDestination(c, req, cur)
	return cur
}

// checkAge requires a date of birth at least AgeMin years before now.
func (s *Service) checkAge(c *checker, dob string, now time.Time) {
	if dob == "" {
		c.fail(CheckAge, "customer.date_of_birth", "date_of_birth_required", "customer.date_of_birth (YYYY-MM-DD) is required for every payout")
		return
	}
	d, err := time.Parse(time.DateOnly, dob)
	if err != nil || d.Year() < 1900 || d.After(now) {
		c.fail(CheckAge, "customer.date_of_birth", "date_of_birth_invalid", "customer.date_of_birth must be a past date YYYY-MM-DD")
		return
	}
	// Born on 29 February: of age on 1 March in years without one
	// (AddDate normalises), as most jurisdictions count it.
	if d.AddDate(AgeMin, 0, 0).After(now) {
		c.fail(CheckAge, "customer.date_of_birth", "customer_underage", "the customer must be at least %d years old", AgeMin)
		return
	}
	c.pass(CheckAge)
}

// checkDestination checks the destination's type and its fields, and the
// account holder's name against the customer's.
func (s *Service) checkDestination(c *checker, req CreateRequest, cur money.Currency) {
	d := req.Destination
	switch d.Type {
	case DestWallet:
		if !id.HasPrefix(req.Customer.ID, "cus") {
			c.fail(CheckDestination, "customer.id", "wallet_requires_kassa_account",
				"a wallet payout goes to a Kassa account: customer.id must be its cus_ id")
			return
		}
		c.pass(CheckDestination)
	case DestBankAccount:
		rail := s.cfg.Rails[DestBankAccount]
		iban := NormalizeIBAN(d.IBAN)
		switch code := ValidateIBAN(iban); {
		case rail == nil:
			c.fail(CheckDestination, "destination.type", "destination_unsupported", "bank account payouts are not enabled on this server")
			return
		case d.IBAN == "":
			c.fail(CheckDestination, "destination.iban", "iban_required", "destination.iban is required for a bank_account payout")
			return
		case code == IBANChecksum:
			c.fail(CheckDestination, "destination.iban", code, "destination.iban has a wrong check digit (mod-97)")
			return
		case code != "":
			c.fail(CheckDestination, "destination.iban", code, "destination.iban is not an IBAN of a SEPA country")
			return
		case cur != "" && cur != "EUR":
			c.fail(CheckCurrency, "currency", "currency_mismatch", "a SEPA bank account is paid in EUR, not %s", cur)
			return
		}
		c.pass(CheckDestination)
		if len(d.AccountHolder) > NameMax || !NamesMatch(d.AccountHolder, req.Customer.FirstName, req.Customer.LastName) {
			c.fail(CheckName, "destination.account_holder", "account_holder_mismatch",
				"destination.account_holder must be the customer's own name (first_name and last_name)")
			return
		}
		c.pass(CheckName)
	case DestOriginalMethod, DestCard:
		switch {
		case s.cfg.Deposits == nil:
			c.fail(CheckDestination, "destination.type", "destination_unsupported",
				"destination type %q is not enabled on this server", d.Type)
		case d.Payment == "" && !s.isSplit(d):
			c.fail(CheckDestination, "destination.payment", "payment_required",
				"a %s payout names the deposit it pays back to: destination.payment (pay_...)", d.Type)
		}
		// checkClosedLoop checks the rest.
	default:
		c.fail(CheckDestination, "destination.type", "destination_type_invalid",
			"destination.type must be one of original_method, wallet, card, bank_account")
	}
}

// checkFunds checks the merchant's available balance and the limits as
// they are now (the reserve checks both again inside its transaction).
func (s *Service) checkFunds(ctx context.Context, c *checker, p Payout, dep *Deposit, now time.Time) error {
	a, err := s.led.Account(ctx, "", sourceAccount(p))
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	if avail := available(a); p.Amount > avail {
		c.fail(CheckBalance, "amount", "balance_insufficient", "amount is more than the %d available in %s", max(avail, 0), p.Currency)
	} else {
		c.pass(CheckBalance)
	}
	t, err := s.store.PayoutTotals(ctx, s.totalsQuery(p, now))
	if err != nil {
		return err
	}
	s.checkLimits(c, p, t)
	if dep != nil {
		checkDeposit(c, p, *dep, t.Payment)
	}
	return nil
}

// available is what a merchant account can pay out: posted credits less
// posted and pending debits (pending credits are not money yet).
func available(a ledger.Account) money.Amount {
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending
}

func (s *Service) totalsQuery(p Payout, now time.Time) TotalsQuery {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return TotalsQuery{MerchantID: p.MerchantID, CustomerID: p.Customer.ID, Currency: p.Currency,
		DayStart: day, MonthStart: day.AddDate(0, 0, 1-day.Day()), Payment: p.Destination.Payment}
}

// checkClosedLoop checks a payout back to a deposit (destination card or
// original_method with destination.payment): the payment is the
// merchant's, in the payout's currency, by the payer, and for card by a
// card. It picks the rail: a card deposit is paid back to the card; a
// voucher deposit (vouchers cannot be refilled) to the payer's wallet.
// The deposit's net amount bounds the payout (checkDeposit).
func (s *Service) checkClosedLoop(ctx context.Context, c *checker, p *Payout) (*Deposit, error) {
	d := p.Destination
	if s.cfg.Deposits == nil || d.Payment == "" {
		return nil, nil // checkDestination failed it
	}
	dep, err := s.cfg.Deposits.Deposit(ctx, p.MerchantID, d.Payment)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		c.fail(CheckClosedLoop, "destination.payment", "payment_not_found", "destination.payment names no payment of yours")
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	switch {
	case dep.Method != MethodCard && dep.Method != MethodVoucher && dep.Method != MethodKassaBalance:
		c.fail(CheckClosedLoop, "destination.payment", "payment_not_captured", "destination.payment was not paid")
		return nil, nil
	case d.Type == DestCard && dep.Method != MethodCard:
		c.fail(CheckClosedLoop, "destination.payment", "payment_not_card", "destination.payment was not paid by card")
		return nil, nil
	case p.Currency != "" && dep.Currency != p.Currency:
		c.fail(CheckCurrency, "currency", "currency_mismatch", "the deposit was in %s, the payout is in %s", dep.Currency, p.Currency)
		return nil, nil
	case dep.PayerID != "" && id.HasPrefix(p.Customer.ID, "cus") && dep.PayerID != p.Customer.ID:
		c.fail(CheckClosedLoop, "customer.id", "customer_mismatch", "the deposit was made by another Kassa account")
		return nil, nil
	}
	if dep.Method == MethodCard {
		p.Rail = s.railName(DestCard)
		if p.Rail == "" {
			c.fail(CheckDestination, "destination.type", "destination_unsupported", "card payouts are not enabled on this server")
			return nil, nil
		}
	} else {
		if !id.HasPrefix(p.Customer.ID, "cus") || (dep.PayerID != "" && dep.PayerID != p.Customer.ID) {
			c.fail(CheckClosedLoop, "customer.id", "wallet_requires_kassa_account",
				"a voucher or kassa_balance deposit is paid back to the payer's wallet: customer.id must be the payer's cus_ account")
			return nil, nil
		}
		p.Rail = RailWallet
	}
	c.pass(CheckClosedLoop)
	return &dep, nil
}

// checkDeposit bounds a payout back to a deposit by what is left of it:
// its net amount less what payouts already paid back to it.
func checkDeposit(c *checker, p Payout, dep Deposit, paidBack money.Amount) {
	if left := dep.Net - paidBack; p.Amount > left {
		c.fail(CheckClosedLoop, "amount", "amount_exceeds_deposit",
			"at most %d can go back to this deposit (%d net, %d paid back); pay winnings beyond it to the wallet or a bank account", max(left, 0), dep.Net, paidBack)
	}
}

// checkLimits checks t plus p against the limits.
func (s *Service) checkLimits(c *checker, p Payout, t Totals) {
	l := s.cfg.Limits
	switch {
	case t.PayerDay+p.Amount > l.PayerDay:
		c.fail(CheckLimits, "amount", "limit_exceeded", "the payer's daily payout limit of %d %s would be passed (%d paid out today)", l.PayerDay, p.Currency, t.PayerDay)
	case t.PayerMonth+p.Amount > l.PayerMonth:
		c.fail(CheckLimits, "amount", "limit_exceeded", "the payer's monthly payout limit of %d %s would be passed (%d paid out this month)", l.PayerMonth, p.Currency, t.PayerMonth)
	case t.MerchantDay+p.Amount > l.MerchantDay && !IsWithdrawal(p):
		// Withdrawals belong to the platform's merchant: its daily limit
		// would be one counter every payer shares (and one could exhaust).
		c.fail(CheckLimits, "amount", "limit_exceeded", "the merchant's daily payout limit of %d %s would be passed (%d paid out today)", l.MerchantDay, p.Currency, t.MerchantDay)
	default:
		c.pass(CheckLimits)
	}
}

// checkPolicy holds large payouts for review.
func (s *Service) checkPolicy(c *checker, p Payout) {
	if s.cfg.ReviewAbove > 0 && p.Amount > s.cfg.ReviewAbove {
		c.checks = append(c.checks, Check{Check: CheckPolicy, Result: CheckReview,
			Detail: fmt.Sprintf("payouts above %d are approved by a second person", s.cfg.ReviewAbove)})
		return
	}
	c.pass(CheckPolicy)
}

// reserve writes the payout with its reserve: the pending transfer from
// the merchant's balance to payout clearing, refused inside the ledger's
// transaction when the balance or a limit would not allow it.
func (s *Service) reserve(ctx context.Context, p Payout, now time.Time, dep *Deposit) (Payout, error) {
	if IsWithdrawal(p) {
		if err := s.ensureAccount(ctx, sourceAccount(p), p.Currency, 5, ledger.DebitsMustNotExceedCredits); err != nil {
			return Payout{}, err
		}
	} else if err := s.ensureAccount(ctx, merchantAccount(p.MerchantID, p.Currency), p.Currency, 2, 0); err != nil {
		return Payout{}, err
	}
	if err := s.ensureAccount(ctx, clearingAccount(p.Currency), p.Currency, 4, 0); err != nil {
		return Payout{}, err
	}
	types := []string{EventCreated}
	if p.Status == StatusRequiresReview {
		types = append(types, EventRequiresReview)
	}
	evs, err := s.events(p, now, types...)
	if err != nil {
		return Payout{}, err
	}
	ts := []ledger.Transfer{{ID: reserveID(p), DebitAccountID: sourceAccount(p),
		CreditAccountID: clearingAccount(p.Currency), Amount: p.Amount, Currency: p.Currency, Code: 40, Flags: ledger.FlagPending}}
	var refused *kassa.Error
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		refused = nil
		c := &checker{}
		if len(results) == 1 && results[0].Code == ledger.ExceedsCredits {
			// A wallet (never negative) that does not cover a withdrawal.
			c.fail(CheckBalance, "amount", "balance_insufficient", "amount is more than the balance of the wallet in %s", p.Currency)
			refused = CheckError(c.checks)
			return refused
		}
		if err := checkResults(ts, results); err != nil {
			return err
		}
		if a, ok := ledger.EffectAccount(ctx, "", sourceAccount(p)); !ok {
			return fmt.Errorf("payout %s: the ledger batch does not hold the account it debits", p.ID)
		} else if avail := available(a); avail < 0 {
			c.fail(CheckBalance, "amount", "balance_insufficient", "amount is more than the %d available in %s", avail+p.Amount, p.Currency)
		}
		t, err := s.store.PayoutTotalsTx(ctx, tx, s.totalsQuery(p, now))
		if err != nil {
			return err
		}
		s.checkLimits(c, p, t)
		if dep != nil {
			checkDeposit(c, p, *dep, t.Payment)
		}
		if refused = CheckError(c.checks); refused != nil {
			return refused
		}
		return s.store.CreatePayoutTx(ctx, tx, p, evs)
	})
	if refused != nil {
		// The checks before the reserve passed: a concurrent payout took
		// the balance or the limit meanwhile.
		return Payout{}, refused
	}
	if err != nil {
		return Payout{}, err
	}
	return p, nil
}

// checkResults turns failed ledger results into an error.
func checkResults(ts []ledger.Transfer, results []ledger.Result) error {
	for i, r := range results {
		if r.Code != ledger.OK && r.Code != ledger.Exists {
			return fmt.Errorf("ledger transfer %s: %s", ts[i].ID, r.Code)
		}
	}
	return nil
}

// ensureAccount creates a platform ledger account once per process.
func (s *Service) ensureAccount(ctx context.Context, acct string, cur money.Currency, code uint16, flags ledger.AccountFlags) error {
	s.mu.Lock()
	known := s.accounts[acct]
	s.mu.Unlock()
	if known {
		return nil
	}
	res, err := s.led.CreateAccounts(ctx, "", []ledger.Account{{ID: acct, Currency: cur, Code: code, Flags: flags}})
	if err != nil {
		return fmt.Errorf("ledger account %s: %w", acct, err)
	}
	if c := res[0].Code; c != ledger.OK && c != ledger.Exists {
		return fmt.Errorf("ledger account %s: %s", acct, c)
	}
	s.mu.Lock()
	s.accounts[acct] = true
	s.mu.Unlock()
	return nil
}

// events builds the payout's events of the given types.
func (s *Service) events(p Payout, now time.Time, types ...string) ([]webhook.Event, error) {
	var view any = Public(p)
	if p.IsSettlement() {
		view = Settlement(p)
	}
	data, err := json.Marshal(view)
	if err != nil {
		return nil, err
	}
	evs := make([]webhook.Event, len(types))
	for i, t := range types {
		evs[i] = webhook.Event{ID: s.ids.New("evt"), MerchantID: p.MerchantID, Type: eventType(p, t), Created: now, Data: data}
	}
	return evs, nil
}

// Limit is one limit with what it has used.
type Limit struct {
	Limit     money.Amount `json:"limit"`
	Used      money.Amount `json:"used"`
	Remaining money.Amount `json:"remaining"`
}

// LimitsView is what a payer may still be paid out today and this month,
// and what the merchant may pay out today, in one currency.
type LimitsView struct {
	Object      string         `json:"object"`
	Customer    string         `json:"customer"`
	Currency    money.Currency `json:"currency"`
	PayerDay    Limit          `json:"payer_day"`
	PayerMonth  Limit          `json:"payer_month"`
	MerchantDay Limit          `json:"merchant_day"`
}

// Limits reports the limits of a merchant's payer in cur as they stand.
func (s *Service) Limits(ctx context.Context, merchantID, customerID, currency string) (LimitsView, error) {
	if customerID == "" || len(customerID) > CustomerIDMax {
		return LimitsView{}, kassa.Invalid("customer", "customer_required", "customer is required (at most %d bytes)", CustomerIDMax)
	}
	cur, err := money.ParseCurrency(currency)
	if _, known := cur.Exponent(); err != nil || !known {
		return LimitsView{}, kassa.Invalid("currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR")
	}
	t, err := s.store.PayoutTotals(ctx, s.totalsQuery(Payout{MerchantID: merchantID, Customer: Customer{ID: customerID}, Currency: cur}, s.now().UTC()))
	if err != nil {
		return LimitsView{}, err
	}
	l := s.cfg.Limits
	mk := func(limit, used money.Amount) Limit { return Limit{limit, used, max(limit-used, 0)} }
	return LimitsView{Object: "payout_limits", Customer: customerID, Currency: cur, PayerDay: mk(l.PayerDay, t.PayerDay),
		PayerMonth: mk(l.PayerMonth, t.PayerMonth), MerchantDay: mk(l.MerchantDay, t.MerchantDay)}, nil
}
