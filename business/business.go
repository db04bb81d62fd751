// Package business is what a merchant sees of its money as a business
// account holder (docs/business.md): its pricing (a fee per method,
// booked at capture) and availability delay, balance transactions (txn_:
// one per ledger movement of its balance, derived from the ledger log),
// settlements of its available balance to its own bank account through
// the payout engine (stl_), and reports (rpt_) computed at a named ledger
// checkpoint.
//
// The ledger stays the system of record. A capture books, in its own
// ledger call, the fee (pay:<id>:fee, merchant → revenue:<CUR>) and a hold
// (pay:<id>:hold, a pending transfer merchant → merchant_hold:<m>:<CUR>
// with the availability delay as its timeout): while the hold is pending
// the money is not available (payouts and settlements cannot take it),
// and the ledger itself releases it at available_on. So /v1/balance reads
// both figures from the ledger: available is the merchant account's
// posted credits less posted and pending debits, pending is the hold
// account's pending credits.
package business

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/webhook"
)

// Limits.
const (
	ListLimitMax     = 100
	PricingPerMax    = 64 // pricing rows per merchant
	PercentBpsMax    = 5000
	FixedMax         = 100_000 // minor units
	DelayMax         = 90 * 24 * time.Hour
	SyncStepLeaves   = 2048 // ledger leaves one sync step reads
	ReportRowsPage   = 1000 // rows a report reads per store call
	ReportChunkBytes = 64 << 10
)

// Event types.
const (
	EventReportSucceeded = "report.succeeded"
	EventReportFailed    = "report.failed"
)

func init() {
	for _, t := range []string{EventReportSucceeded, EventReportFailed} {
		webhook.RegisterEventType(t)
	}
}

// Ledger is what business accounts need of the ledger.
type Ledger interface {
	Account(ctx context.Context, owner, id string) (ledger.Account, error)
	LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error)
}

// Payouts is the payout engine that carries settlements.
type Payouts interface {
	CreateSettlement(ctx context.Context, req payout.SettlementRequest) (payout.Payout, error)
	Get(ctx context.Context, merchantID, id string) (payout.Payout, error)
	List(ctx context.Context, f payout.Filter) ([]payout.Payout, bool, error)
}

// Config wires a Service.
type Config struct {
	Store   Store
	Ledger  Ledger
	Payouts Payouts // nil: no settlements
	Clock   func() time.Time
	IDs     id.Generator
	Logger  *slog.Logger
	// TermsTTL is how long a node trusts pricing it read (captures ask on
	// every capture); the node that changes pricing forgets at once.
	TermsTTL time.Duration
}

// Service runs business accounts.
type Service struct {
	cfg   Config
	store Store
	now   func() time.Time
	log   *slog.Logger

	syncMu sync.Mutex // one sync at a time per process (nodes race by compare-and-set)

	mu    sync.Mutex
	terms map[string]termsEntry // by merchant
}

type termsEntry struct {
	pricing  []Pricing
	settings Settings
	read     time.Time
}

// New returns a business service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TermsTTL <= 0 {
		cfg.TermsTTL = 5 * time.Second
	}
	return &Service{cfg: cfg, store: cfg.Store, now: cfg.Clock, log: cfg.Logger, terms: map[string]termsEntry{}}
}

var _ payment.Pricing = (*Service)(nil)

// merchantAccount is the merchant's balance in the platform ledger.
func merchantAccount(merchantID string, cur money.Currency) string {
	return payment.MerchantAccount(merchantID, cur)
}

// Balance is a merchant's balance in one currency, from the ledger.
type Balance struct {
	Currency  money.Currency
	Available money.Amount // may be paid out or settled now
	Pending   money.Amount // captured, not yet available (held until available_on)
}

// Balances reads each currency's available and pending balance from the
// ledger: available = the merchant account's posted credits less posted
// and pending debits (refunds, payouts and settlements in flight, holds),
// pending = the hold account's pending credits.
func (s *Service) Balances(ctx context.Context, merchantID string, currencies []money.Currency) ([]Balance, error) {
	// Currencies its balance moved in without a payment (a payout
	// returned, an adjustment) count too, once derived (the sync job runs
	// every few seconds; /v1/balance does not wait for it: its figures
	// are the ledger's).
	moved, err := s.store.Currencies(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	seen := map[money.Currency]bool{}
	var out []Balance
	for _, cur := range append(currencies, moved...) {
		if seen[cur] {
			continue
		}
		seen[cur] = true
		a, err := s.cfg.Ledger.Account(ctx, "", merchantAccount(merchantID, cur))
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		b := Balance{Currency: cur, Available: a.CreditsPosted - a.DebitsPosted - a.DebitsPending}
		h, err := s.cfg.Ledger.Account(ctx, "", payment.HoldAccount(merchantID, cur))
		switch {
		case err == nil:
			b.Pending = h.CreditsPending
		case !errors.Is(err, ledger.ErrNotFound):
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func notFound(code, what string) error {
	return kassa.Errorf(kassa.ENotFound, code, "no such %s", what)
}
