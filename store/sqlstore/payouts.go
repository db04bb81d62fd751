package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/webhook"
)

// Payouts implements payout.Store.
type Payouts struct {
	db     *DB
	events *Webhooks
}

// NewPayouts returns the payout store over db.
func NewPayouts(db *DB) *Payouts { return &Payouts{db: db, events: NewWebhooks(db)} }

var _ payout.Store = (*Payouts)(nil)

const payoutColumns = `id, merchant_id, amount, currency, status, destination_type, destination_payment,
	destination_card, iban, account_holder, customer_id, customer_email, customer_first_name, customer_last_name,
	checks, failure_code, failure_message, merchant_reference, metadata, created_by, reviewed_by, request_key,
	rail, rail_attempts, created_at, updated_at, arrival_estimate, paid_at, version, split_of, seal_subject, iban_index`

var errPayoutNotFound = kassa.Errorf(kassa.ENotFound, "payout_not_found", "no such payout")

// scanPayoutSealed scans a payout as stored, its personal fields still
// sealed, and the subject whose key seals them.
func scanPayoutSealed(row interface{ Scan(...any) error }) (payout.Payout, string, error) {
	var p payout.Payout
	var subject, ibanIndex string
	var cur, status, checks, metadata string
	var created, updated, arrival, paid int64
	err := row.Scan(&p.ID, &p.MerchantID, &p.Amount, &cur, &status, &p.Destination.Type, &p.Destination.Payment,
		&p.Destination.Card, &p.Destination.IBAN, &p.Destination.AccountHolder, &p.Customer.ID, &p.Customer.Email,
		&p.Customer.FirstName, &p.Customer.LastName, &checks, &p.FailureCode, &p.FailureMessage,
		&p.MerchantReference, &metadata, &p.CreatedBy, &p.ReviewedBy, &p.RequestKey, &p.Rail, &p.RailAttempts,
		&created, &updated, &arrival, &paid, &p.Version, &p.SplitOf, &subject, &ibanIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return payout.Payout{}, "", errPayoutNotFound
	} else if err != nil {
		return payout.Payout{}, "", err
	}
	p.Currency, p.Status = money.Currency(cur), payout.Status(status)
	if metadata != "" {
		p.Metadata = json.RawMessage(metadata)
	}
	if checks != "" {
		if err := json.Unmarshal([]byte(checks), &p.Checks); err != nil {
			return payout.Payout{}, "", fmt.Errorf("payout %s checks: %w", p.ID, err)
		}
	}
	p.Created, p.Updated = fromMicros(created), fromMicros(updated)
	p.ArrivalEstimate, p.PaidAt = timeOrZero(arrival), timeOrZero(paid)
	return p, subject, nil
}

// payoutSubject is whose key seals a payout's personal fields: a Kassa
// account (a customer id cus_..., as docs/privacy.md counts payouts to
// it from any merchant), else the merchant's customer, else the payout.
func payoutSubject(p payout.Payout) string {
	switch {
	case strings.HasPrefix(p.Customer.ID, "cus_"):
		return p.Customer.ID
	case p.Customer.ID != "":
		return p.MerchantID + "/" + p.Customer.ID
	}
	return p.ID
}

func payoutFields(p *payout.Payout) []personalField {
	return []personalField{{"iban", &p.Destination.IBAN}, {"account_holder", &p.Destination.AccountHolder},
		{"customer_email", &p.Customer.Email}, {"customer_first_name", &p.Customer.FirstName},
		{"customer_last_name", &p.Customer.LastName}}
}

// readPayout scans a payout and opens its personal fields.
func (s *Payouts) readPayout(ctx context.Context, row interface{ Scan(...any) error }) (payout.Payout, error) {
	p, subject, err := scanPayoutSealed(row)
	if err != nil {
		return p, err
	}
	return p, s.db.openFields(ctx, subject, payoutFields(&p)...)
}

func checksJSON(cs []payout.Check) (string, error) {
	if len(cs) == 0 {
		return "", nil
	}
	b, err := json.Marshal(cs)
	return string(b), err
}

// CreatePayoutTx inserts a payout and its events in the ledger's transaction.
func (s *Payouts) CreatePayoutTx(ctx context.Context, ltx ledger.Tx, p payout.Payout, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	checks, err := checksJSON(p.Checks)
	if err != nil {
		return err
	}
	ibanIndex := s.db.blindIndex(seal.IndexIBAN, p.Destination.IBAN)
	subject, _, err := s.db.sealFields(ctx, tx, payoutSubject(p), p.Created, payoutFields(&p)...)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payouts (`+payoutColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
		?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.MerchantID, p.Amount, string(p.Currency), string(p.Status), p.Destination.Type, p.Destination.Payment,
		p.Destination.Card, p.Destination.IBAN, p.Destination.AccountHolder, p.Customer.ID, p.Customer.Email,
		p.Customer.FirstName, p.Customer.LastName, checks, p.FailureCode, p.FailureMessage,
		p.MerchantReference, string(p.Metadata), p.CreatedBy, p.ReviewedBy, p.RequestKey, p.Rail, p.RailAttempts,
		micros(p.Created), micros(p.Updated), microsOrZero(p.ArrivalEstimate), microsOrZero(p.PaidAt), p.Version, p.SplitOf,
		subject, ibanIndex)
	if err != nil {
		return fmt.Errorf("insert payout: %w", err)
	}
	return s.appendEvents(ctx, tx, evs)
}

func (s *Payouts) appendEvents(ctx context.Context, tx *Tx, evs []webhook.Event) error {
	for _, ev := range evs {
		if err := s.events.AppendEvent(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// update writes the fields a transition changes, if the payout is still at
// version p.Version-1.
func (s *Payouts) update(ctx context.Context, tx *Tx, p payout.Payout, evs []webhook.Event) error {
	res, err := tx.ExecContext(ctx, `UPDATE payouts SET status = ?, failure_code = ?, failure_message = ?,
		reviewed_by = ?, rail_attempts = ?, updated_at = ?, arrival_estimate = ?, paid_at = ?, version = ?
		WHERE id = ? AND version = ?`,
		string(p.Status), p.FailureCode, p.FailureMessage, p.ReviewedBy, p.RailAttempts, micros(p.Updated),
		microsOrZero(p.ArrivalEstimate), microsOrZero(p.PaidAt), p.Version, p.ID, p.Version-1)
	if err != nil {
		return fmt.Errorf("update payout: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return payout.ErrConflict
	}
	return s.appendEvents(ctx, tx, evs)
}

// UpdatePayoutTx updates a payout in the ledger's transaction.
func (s *Payouts) UpdatePayoutTx(ctx context.Context, ltx ledger.Tx, p payout.Payout, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	return s.update(ctx, tx, p, evs)
}

// UpdatePayout updates a payout in a transaction of its own.
func (s *Payouts) UpdatePayout(ctx context.Context, p payout.Payout, evs []webhook.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error { return s.update(ctx, tx, p, evs) })
}

// Payout returns a payout of merchantID ("" any merchant).
func (s *Payouts) Payout(ctx context.Context, merchantID, id string) (payout.Payout, error) {
	q := `SELECT ` + payoutColumns + ` FROM payouts WHERE id = ?`
	args := []any{id}
	if merchantID != "" {
		q += ` AND merchant_id = ?`
		args = append(args, merchantID)
	}
	return s.readPayout(ctx, s.db.QueryRowContext(ctx, q, args...))
}

// Payouts returns a page of a merchant's payouts, newest first.
func (s *Payouts) Payouts(ctx context.Context, f payout.Filter) ([]payout.Payout, bool, error) {
	// Settlements (stl_) are payouts too but listed as /v1/settlements.
	where := []string{"merchant_id = ?", settlementExcluded}
	args := []any{f.MerchantID}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Customer != "" {
		where, args = append(where, "customer_id = ?"), append(args, f.Customer)
	}
	if f.StartingAfter != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM payouts WHERE id = ? AND merchant_id = ?`,
			f.StartingAfter, f.MerchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after names no payout of yours")
		} else if err != nil {
			return nil, false, err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, created, created, f.StartingAfter)
	}
	args = append(args, f.Limit+1)
	ps, err := s.query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, err
	}
	if len(ps) > f.Limit {
		return ps[:f.Limit], true, nil
	}
	return ps, false, nil
}

func (s *Payouts) query(ctx context.Context, q string, args ...any) ([]payout.Payout, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payout.Payout
	var subjects []string
	for rows.Next() {
		p, subject, err := scanPayoutSealed(rows)
		if err != nil {
			return nil, err
		}
		out, subjects = append(out, p), append(subjects, subject)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if err := s.db.preloadKeys(ctx, subjects); err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.db.openFields(ctx, subjects[i], payoutFields(&out[i])...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DuePayouts returns the payouts the worker has a step for.
func (s *Payouts) DuePayouts(ctx context.Context, paidSince time.Time, limit int) ([]payout.Payout, error) {
	ps, err := s.query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE status IN ('pending', 'in_transit')
		ORDER BY updated_at, id LIMIT ?`, limit)
	if err != nil || len(ps) >= limit {
		return ps, err
	}
	paid, err := s.query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE status = 'paid' AND rail <> 'wallet'
		AND paid_at >= ? ORDER BY updated_at, id LIMIT ?`, micros(paidSince), limit-len(ps))
	return append(ps, paid...), err
}

const payoutTotalsQuery = `SELECT
	CAST(COALESCE(SUM(CASE WHEN customer_id = ? AND created_at >= ? THEN amount ELSE 0 END), 0) AS BIGINT),
	CAST(COALESCE(SUM(CASE WHEN customer_id = ? THEN amount ELSE 0 END), 0) AS BIGINT),
	CAST(COALESCE(SUM(CASE WHEN created_at >= ? THEN amount ELSE 0 END), 0) AS BIGINT)
	FROM payouts WHERE merchant_id = ? AND currency = ? AND created_at >= ?
	AND status IN ('pending', 'requires_review', 'in_transit', 'paid') AND ` + settlementExcluded

// settlementExcluded leaves settlements (stl_, the merchant's own money to
// its own bank) out of payout lists and limits.
const settlementExcluded = `substr(id, 1, 4) <> 'stl_'`

func totalsArgs(q payout.TotalsQuery) []any {
	since := min(micros(q.DayStart), micros(q.MonthStart))
	return []any{q.CustomerID, micros(q.DayStart), q.CustomerID, micros(q.DayStart), q.MerchantID, string(q.Currency), since}
}

// paidBackQuery sums what payouts paid (or are paying) back to a deposit.
const paidBackQuery = `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM payouts
	WHERE merchant_id = ? AND destination_payment = ? AND status IN ('pending', 'requires_review', 'in_transit', 'paid')`

func payoutTotals(ctx context.Context, q rowQuerier, tq payout.TotalsQuery) (payout.Totals, error) {
	var t payout.Totals
	if err := q.QueryRowContext(ctx, payoutTotalsQuery, totalsArgs(tq)...).Scan(&t.PayerDay, &t.PayerMonth, &t.MerchantDay); err != nil {
		return t, err
	}
	if tq.Payment != "" {
		if err := q.QueryRowContext(ctx, paidBackQuery, tq.MerchantID, tq.Payment).Scan(&t.Payment); err != nil {
			return t, err
		}
	}
	return t, nil
}

// PayoutTotalsTx sums payouts for limits inside the ledger's transaction.
func (s *Payouts) PayoutTotalsTx(ctx context.Context, ltx ledger.Tx, q payout.TotalsQuery) (payout.Totals, error) {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return payout.Totals{}, err
	}
	return payoutTotals(ctx, tx, q)
}

// PayoutTotals sums payouts for limits.
func (s *Payouts) PayoutTotals(ctx context.Context, q payout.TotalsQuery) (payout.Totals, error) {
	return payoutTotals(ctx, s.db, q)
}

// PayoutSums sums open and paid payouts per merchant ledger account.
func (s *Payouts) PayoutSums(ctx context.Context) (map[string]payout.Sums, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT merchant_id, currency,
		CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN 0 ELSE amount END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN amount ELSE 0 END), 0) AS BIGINT)
		FROM payouts WHERE status IN ('pending', 'requires_review', 'in_transit', 'paid') GROUP BY merchant_id, currency`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]payout.Sums{}
	for rows.Next() {
		var m, cur string
		var sums payout.Sums
		if err := rows.Scan(&m, &cur, &sums.Open, &sums.Paid); err != nil {
			return nil, err
		}
		out["merchant:"+m+":"+cur] = sums
	}
	return out, rows.Err()
}

// AllPayouts pages through every payout by id.
func (s *Payouts) AllPayouts(ctx context.Context, after string, limit int) ([]payout.Payout, error) {
	return s.query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// DestinationStats looks at a merchant's earlier payouts to an IBAN.
func (s *Payouts) DestinationStats(ctx context.Context, merchantID, customerID, iban string) (payout.DestinationStats, error) {
	var st payout.DestinationStats
	var used int
	// With sealing the IBANs are compared by their blind index (the
	// column holds ciphertext); payouts from before sealing have none
	// until the backfill seals them.
	col := "iban"
	if idx := s.db.blindIndex(seal.IndexIBAN, iban); idx != "" {
		col, iban = "iban_index", idx
	}
	err := s.db.QueryRowContext(ctx, strings.ReplaceAll(`SELECT
		COUNT(CASE WHEN customer_id = ? AND {iban} = ? THEN 1 END),
		COUNT(DISTINCT CASE WHEN customer_id = ? AND {iban} <> ? THEN {iban} END),
		COUNT(DISTINCT CASE WHEN customer_id <> ? AND {iban} = ? THEN customer_id END)
		FROM payouts WHERE merchant_id = ? AND destination_type = 'bank_account' AND (customer_id = ? OR {iban} = ?)`, "{iban}", col),
		customerID, iban, customerID, iban, customerID, iban, merchantID, customerID, iban).Scan(&used, &st.CustomerOthers, &st.OtherCustomers)
	st.CustomerUsed = used > 0
	return st, err
}
