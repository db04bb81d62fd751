package credit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/webhook"
)

// Event types of plans, sent to the merchant of the plan's payment. They
// carry the plan's public form (PublicPlan): never the payer's limit.
const (
	EventPlanCreated      = "credit.plan_created"
	EventInstalmentPaid   = "credit.instalment_paid"
	EventInstalmentFailed = "credit.instalment_failed"
	EventPlanOverdue      = "credit.plan_overdue"
	EventPlanSettled      = "credit.plan_settled"
	EventPlanWrittenOff   = "credit.plan_written_off"
)

func init() {
	for _, t := range []string{EventPlanCreated, EventInstalmentPaid, EventInstalmentFailed, EventPlanOverdue,
		EventPlanSettled, EventPlanWrittenOff} {
		webhook.RegisterEventType(t)
	}
}

// Errors and their codes. A refusal to the payer names no internal
// score or rule: CodeUnavailable covers every reason the check had.
const (
	CodeUnavailable   = "pay_later_unavailable"
	CodeNotEnabled    = "pay_later_not_enabled"
	CodeGambling      = "pay_later_gambling"
	CodePlanNotFound  = "plan_not_found"
	CodePushedBack    = "plan_pushed_back"
	CodeNotPushable   = "instalment_not_pushable"
	CodeNothingDue    = "instalment_not_payable"
	CodeWalletShort   = "wallet_balance_insufficient"
	codeNoInstalment  = "instalment_not_found"
	plansPerPayerMax  = 200 // a payer's plans the limit check reads
	collectBatchMax   = 100
	accountAgeGrowth  = 30 * day // younger accounts stay at the start limit
	reminderSubjectOf = "Kassa pay later"
)

var (
	// ErrConflict: the plan changed since it was read.
	ErrConflict      = errors.New("credit: plan changed concurrently")
	errPushedBack    = kassa.Errorf(kassa.EConflict, CodePushedBack, "a due date of this plan was pushed back already; it can be pushed back once")
	errNoInstalment  = kassa.Invalid("instalment", codeNoInstalment, "the plan has no such instalment")
	errNotPushable   = kassa.Errorf(kassa.EConflict, CodeNotPushable, "only an instalment that is scheduled and not yet due can be pushed back")
	errPlanNotFound  = kassa.Errorf(kassa.ENotFound, CodePlanNotFound, "no such plan")
	errUnavailable   = kassa.Errorf(kassa.EUnprocessable, CodeUnavailable, "pay later is not available for this purchase; please choose another way to pay")
	errGambling      = kassa.Errorf(kassa.EForbidden, CodeGambling, "pay later is never offered for gambling")
	errNotEnabled    = kassa.Invalid("payment_method.type", CodeNotEnabled, "this merchant does not offer pay later")
	errPlanUnknown   = kassa.Invalid("payment_method.plan", "plan_invalid", "payment_method.plan must be pay_in_30 or pay_in_3")
	errNothingDue    = kassa.Errorf(kassa.EConflict, CodeNothingDue, "this instalment is not open for payment")
	errWalletShortPN = kassa.Errorf(kassa.EUnprocessable, CodeWalletShort, "your Kassa balance does not cover this instalment")
)

// Store keeps plans and the merchants' switch.
type Store interface {
	// CreatePlanTx inserts a plan and its events in the ledger's
	// transaction; ErrConflict when its payment has a plan already.
	CreatePlanTx(ctx context.Context, tx ledger.Tx, p Plan, evs []webhook.Event) error
	// UpdatePlanTx writes p if it is still at version p.Version-1, with
	// its events, in the ledger's transaction; else ErrConflict.
	UpdatePlanTx(ctx context.Context, tx ledger.Tx, p Plan, evs []webhook.Event) error
	// UpdatePlan is UpdatePlanTx in a transaction of its own (checking
	// the lease fence ctx carries).
	UpdatePlan(ctx context.Context, p Plan, evs []webhook.Event) error
	Plan(ctx context.Context, id string) (Plan, error)
	PlanByPayment(ctx context.Context, paymentID string) (Plan, error)
	// CustomerPlans returns up to limit of a payer's plans, newest first.
	CustomerPlans(ctx context.Context, customerID string, limit int) ([]Plan, error)
	// DuePlans returns up to limit open plans whose NextWork is at or
	// before t, earliest first.
	DuePlans(ctx context.Context, t time.Time, limit int) ([]Plan, error)
	// AllPlans pages through every plan by id (reconciliation).
	AllPlans(ctx context.Context, after string, limit int) ([]Plan, error)
	// ListPlans lists plans, newest first (the operator's list).
	ListPlans(ctx context.Context, f PlanFilter) ([]Plan, error)
	MerchantEnabled(ctx context.Context, merchantID string) (bool, error)
	SetMerchantEnabled(ctx context.Context, merchantID string, on bool, t time.Time) error
}

// Ledger is what credit needs of the ledger.
type Ledger interface {
	CreateAccounts(ctx context.Context, owner string, accounts []ledger.Account) ([]ledger.Result, error)
	CreateTransfersWith(ctx context.Context, owner string, transfers []ledger.Transfer, effect ledger.Effect) ([]ledger.Result, error)
	Account(ctx context.Context, owner, id string) (ledger.Account, error)
	Transfer(ctx context.Context, owner, id string) (ledger.Transfer, []byte, error)
}

// Customers reads payers (identity.Service).
type Customers interface {
	Customer(ctx context.Context, id string) (identity.Customer, error)
}

// Merchants reads merchants (merchant.Service).
type Merchants interface {
	Get(ctx context.Context, id string) (merchant.Merchant, error)
}

// Config wires a Service.
type Config struct {
	Store     Store
	Ledger    Ledger
	Customers Customers
	Merchants Merchants
	// Notifier sends reminders (identity's notifier; the dev outbox in
	// development); nil: none.
	Notifier identity.Notifier
	// LimitStart is a new payer's credit limit, LimitStep what each plan
	// repaid on time adds, LimitMax the ceiling (minor units of any
	// currency). Zero: 20000, 5000, 100000.
	LimitStart, LimitStep, LimitMax money.Amount
	// LateFee is added to an instalment that goes overdue; 0 (the
	// default) is none, at most LateFeeMaxCap.
	LateFee money.Amount
	// Vault and Acquirer collect instalments from payers' own cards
	// (card.go); nil: plans are collected from the wallet only.
	Vault    Vault
	Acquirer acquirer.Acquirer
	// Risk scores each purchase's credit check as kind "credit"
	// (risk.Engine); nil: the rule set alone decides.
	Risk   RiskEngine
	Clock  func() time.Time
	IDs    id.Generator
	Logger *slog.Logger
}

// Service runs pay later.
type Service struct {
	cfg Config
	now func() time.Time
	log *slog.Logger
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Ledger == nil || cfg.Customers == nil || cfg.Merchants == nil {
		return nil, errors.New("credit: Config.Store, Ledger, Customers and Merchants are required")
	}
	if cfg.LateFee < 0 || cfg.LateFee > LateFeeMaxCap {
		return nil, fmt.Errorf("credit: late fee %d outside 0..%d", cfg.LateFee, LateFeeMaxCap)
	}
	if cfg.LimitStart == 0 {
		cfg.LimitStart = 20000
	}
	if cfg.LimitStep == 0 {
		cfg.LimitStep = limitStepDefault
	}
	if cfg.LimitMax == 0 {
		cfg.LimitMax = 100000
	}
	if cfg.LimitStart < 0 || cfg.LimitStep < 0 || cfg.LimitMax < cfg.LimitStart {
		return nil, fmt.Errorf("credit: limits start %d step %d max %d", cfg.LimitStart, cfg.LimitStep, cfg.LimitMax)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, now: cfg.Clock, log: cfg.Logger}, nil
}

// Ledger account ids (platform namespace).

// ReceivableAccount is what payer customerID owes in cur.
func ReceivableAccount(customerID string, cur money.Currency) string {
	return "credit:" + customerID + ":" + string(cur)
}

// FundingAccount is the platform's credit funding account in cur.
func FundingAccount(cur money.Currency) string { return "credit_funding:" + string(cur) }

// LossAccount books written-off credit in cur.
func LossAccount(cur money.Currency) string { return "credit_loss:" + string(cur) }

// FeesAccount books late fees in cur.
func FeesAccount(cur money.Currency) string { return "credit_fees:" + string(cur) }

// Ledger account and transfer codes.
const (
	codeAccountFunding    = 20
	codeAccountReceivable = 21
	codeAccountLoss       = 22
	codeAccountFees       = 23
	CodeTransferFunding   = 30 // receivable → funding → merchant at capture
	CodeTransferCollect   = 31 // wallet → receivable
	CodeTransferWriteOff  = 32 // loss → receivable
	CodeTransferRefund    = 33 // merchant → receivable
	CodeTransferFee       = 34 // receivable → fees
)

// EnsureAccounts creates the platform accounts in cur and the payer's
// receivable (idempotent).
func (s *Service) EnsureAccounts(ctx context.Context, customerID string, cur money.Currency) error {
	as := []ledger.Account{
		{ID: FundingAccount(cur), Currency: cur, Code: codeAccountFunding},
		{ID: LossAccount(cur), Currency: cur, Code: codeAccountLoss},
		{ID: FeesAccount(cur), Currency: cur, Code: codeAccountFees},
		{ID: CardClearingAccount(cur), Currency: cur, Code: 3}, // as the card method makes it
		{ID: payout.WalletAccount(customerID, cur), Currency: cur, Code: 5, Flags: ledger.DebitsMustNotExceedCredits},
	}
	if customerID != "" {
		as = append(as, ledger.Account{ID: ReceivableAccount(customerID, cur), Currency: cur, Code: codeAccountReceivable})
	} else {
		as = as[:4]
	}
	res, err := s.cfg.Ledger.CreateAccounts(ctx, "", as)
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Code != ledger.OK && r.Code != ledger.Exists {
			return fmt.Errorf("credit: create account %s: %s", as[i].ID, r.Code)
		}
	}
	return nil
}

// Owed is what the receivable of customerID in cur says they owe
// (pending debits included: a purchase not yet captured counts).
func (s *Service) Owed(ctx context.Context, customerID string, cur money.Currency) (money.Amount, error) {
	a, err := s.cfg.Ledger.Account(ctx, "", ReceivableAccount(customerID, cur))
	if errors.Is(err, ledger.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return owedOf(a), nil
}

func owedOf(a ledger.Account) money.Amount {
	return a.DebitsPosted + a.DebitsPending - a.CreditsPosted
}

// PublicPlan is a plan as the merchant's events and the payer's page see
// it: the schedule, never the payer's limit.
type PublicPlan struct {
	ID          string             `json:"id"`
	Object      string             `json:"object"`
	Payment     string             `json:"payment"`
	Plan        string             `json:"plan"`
	Status      Status             `json:"status"`
	Amount      money.Amount       `json:"amount"`
	Currency    money.Currency     `json:"currency"`
	Owed        money.Amount       `json:"amount_owed"`
	Instalments []PublicInstalment `json:"instalments"`
	Created     time.Time          `json:"created"`
}

// PublicInstalment is one instalment in a PublicPlan.
type PublicInstalment struct {
	Seq    int              `json:"seq"`
	Amount money.Amount     `json:"amount"`
	Due    time.Time        `json:"due_date"`
	Status InstalmentStatus `json:"status"`
}

// Public returns p's public form.
func Public(p Plan) PublicPlan {
	out := PublicPlan{ID: p.ID, Object: "credit_plan", Payment: p.PaymentID, Plan: p.Plan, Status: p.Status,
		Amount: p.Amount, Currency: p.Currency, Owed: p.Owed(), Created: p.Created,
		Instalments: make([]PublicInstalment, 0, len(p.Instalments))}
	for _, in := range p.Instalments {
		out.Instalments = append(out.Instalments, PublicInstalment{Seq: in.Seq, Amount: in.Amount, Due: in.Due, Status: in.Status})
	}
	return out
}

func (s *Service) events(p Plan, t time.Time, types ...string) ([]webhook.Event, error) {
	data, err := json.Marshal(Public(p))
	if err != nil {
		return nil, err
	}
	evs := make([]webhook.Event, 0, len(types))
	for _, typ := range types {
		evs = append(evs, webhook.Event{ID: s.cfg.IDs.New("evt"), MerchantID: p.MerchantID, Type: typ, Created: t, Data: data})
	}
	return evs, nil
}

// SetMerchantEnabled switches pay later on or off for a merchant. A
// gambling merchant can never switch it on.
func (s *Service) SetMerchantEnabled(ctx context.Context, merchantID string, on bool) error {
	return SetMerchantEnabled(ctx, s.cfg.Store, s.cfg.Merchants, merchantID, on, s.now().UTC())
}

// SetMerchantEnabled is Service.SetMerchantEnabled for a caller with no
// Service (the kassa merchants pay-later command).
func SetMerchantEnabled(ctx context.Context, st Store, ms Merchants, merchantID string, on bool, t time.Time) error {
	m, err := ms.Get(ctx, merchantID)
	if err != nil {
		return err
	}
	if on && m.Gambling() {
		return errGambling
	}
	return st.SetMerchantEnabled(ctx, merchantID, on, t)
}

// Offered reports whether the merchant offers pay later: switched on and
// not gambling (checked again at every purchase: a merchant whose
// category became gambling stops offering it at once).
func (s *Service) Offered(ctx context.Context, merchantID string) (bool, error) {
	m, err := s.cfg.Merchants.Get(ctx, merchantID)
	if err != nil {
		return false, err
	}
	if m.Gambling() {
		return false, nil
	}
	return s.cfg.Store.MerchantEnabled(ctx, merchantID)
}
