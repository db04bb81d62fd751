package business

import (
	"context"
	"io"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/webhook"
)

// Store is what business accounts need of storage (store/sqlstore).
type Store interface {
	// SetPricing upserts a pricing row; kassa EUnprocessable when the
	// merchant would have more than max.
	SetPricing(ctx context.Context, p Pricing, max int) error
	DeletePricing(ctx context.Context, merchantID, method string, cur money.Currency) error
	Pricing(ctx context.Context, merchantID string) ([]Pricing, error)
	// Settings returns the merchant's settings, zero when none stored.
	Settings(ctx context.Context, merchantID string) (Settings, error)
	SetSettings(ctx context.Context, st Settings) error
	// Scheduled returns the settings of merchants with a verified bank
	// account and a schedule other than manual.
	Scheduled(ctx context.Context) ([]Settings, error)
	MarkSettled(ctx context.Context, merchantID string, through time.Time) error

	// RecordChargeTx stores a capture's fee and hold in its transaction.
	RecordChargeTx(ctx context.Context, tx ledger.Tx, c payment.Charge) error
	// ChargeMovements sums, per merchant ledger account, the fees booked
	// (posted) and the holds the ledger still holds (pending).
	ChargeMovements(ctx context.Context, now time.Time) (map[string]payment.Movement, error)

	// SyncState is the first ledger leaf not yet derived.
	SyncState(ctx context.Context) (int64, error)
	// LedgerTransfers returns the platform's transfers from leaf from on,
	// up to about limit (a capture's transfers are never split), and the
	// leaf after the last one looked at (the log's size when it got to
	// the end).
	LedgerTransfers(ctx context.Context, from int64, limit int) ([]ledger.Transfer, int64, error)
	// PendingAmount is what a platform pending transfer reserved.
	PendingAmount(ctx context.Context, id string) (money.Amount, error)
	// ApplySync writes b and moves the watermark from b.From to b.To, if
	// it is still at b.From (another node did the step otherwise).
	ApplySync(ctx context.Context, b SyncBatch) error
	Txns(ctx context.Context, f TxnFilter) ([]Txn, bool, error)
	Txn(ctx context.Context, merchantID, id string) (Txn, error)
	// Currencies lists those a merchant has balance transactions in.
	Currencies(ctx context.Context, merchantID string) ([]money.Currency, error)

	// Unsettled sums the transactions q selects; SettleTx marks them with
	// the settlement inside the ledger's transaction and sums those it
	// marked.
	Unsettled(ctx context.Context, q SettleQuery) (money.Amount, int, error)
	SettleTx(ctx context.Context, tx ledger.Tx, q SettleQuery, settlement string) (money.Amount, int, error)
	SettlementLines(ctx context.Context, merchantID, settlement string) (int, money.Amount, error)
	Settlements(ctx context.Context, merchantID, startingAfter string, limit int) ([]payout.Payout, bool, error)

	// CreateReport stores a pending report; kassa ERateLimited when the
	// merchant has max pending already.
	CreateReport(ctx context.Context, r Report, max int) error
	Report(ctx context.Context, merchantID, id string) (Report, error)
	Reports(ctx context.Context, merchantID, startingAfter string, limit int) ([]Report, bool, error)
	// PendingReports lists pending reports due at now, oldest first.
	PendingReports(ctx context.Context, now time.Time, limit int) ([]Report, error)
	// RetryReport records a pending report's failed try and when it is
	// due again.
	RetryReport(ctx context.Context, id string, attempts int, next time.Time) error
	// ReportWriter stores a report's file in chunks as it is written.
	ReportWriter(ctx context.Context, id string) (ReportFileWriter, error)
	// FinishReport records r's outcome with its event.
	FinishReport(ctx context.Context, r Report, ev webhook.Event) error
	ReportFile(ctx context.Context, merchantID, id string, w io.Writer) error
	// EachRow calls fn with every row of a listing report, in pages.
	EachRow(ctx context.Context, q RowQuery, fn func([]any) error) error
	// NetBefore sums net per currency of transactions created before t,
	// from leaves below belowLeaf; Activity sums per currency and type
	// those in [start, end).
	NetBefore(ctx context.Context, merchantID string, belowLeaf int64, t time.Time) (map[money.Currency]money.Amount, error)
	Activity(ctx context.Context, merchantID string, belowLeaf int64, start, end time.Time) ([]SummaryLine, error)
}

// ReportFileWriter writes a report file; Abort discards what was written.
type ReportFileWriter interface {
	io.WriteCloser
	Abort()
}
