package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Credit implements credit.Store.
type Credit struct {
	db     *DB
	events *Webhooks
}

// NewCredit returns the pay later store over db.
func NewCredit(db *DB) *Credit { return &Credit{db: db, events: NewWebhooks(db)} }

var _ credit.Store = (*Credit)(nil)

const creditPlanColumns = `id, payment_id, merchant_id, customer_id, plan, amount, currency, status, terms,
	instalments, refunded, written_off, next_work_at, created_at, updated_at, version`

var errCreditPlanNotFound = kassa.Errorf(kassa.ENotFound, credit.CodePlanNotFound, "no such plan")

func scanCreditPlan(row interface{ Scan(...any) error }) (credit.Plan, error) {
	var p credit.Plan
	var cur, status, terms, instalments string
	var next, created, updated int64
	err := row.Scan(&p.ID, &p.PaymentID, &p.MerchantID, &p.CustomerID, &p.Plan, &p.Amount, &cur, &status, &terms,
		&instalments, &p.Refunded, &p.WrittenOff, &next, &created, &updated, &p.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return credit.Plan{}, errCreditPlanNotFound
	} else if err != nil {
		return credit.Plan{}, err
	}
	p.Currency, p.Status = money.Currency(cur), credit.Status(status)
	if err := json.Unmarshal([]byte(terms), &p.Terms); err != nil {
		return credit.Plan{}, fmt.Errorf("plan %s terms: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(instalments), &p.Instalments); err != nil {
		return credit.Plan{}, fmt.Errorf("plan %s instalments: %w", p.ID, err)
	}
	p.Created, p.Updated = fromMicros(created), fromMicros(updated)
	return p, nil
}

func planJSON(p credit.Plan) (terms, instalments string, err error) {
	t, err := json.Marshal(p.Terms)
	if err != nil {
		return "", "", err
	}
	in, err := json.Marshal(p.Instalments)
	return string(t), string(in), err
}

// CreatePlanTx inserts a plan and its events in the ledger's transaction.
func (s *Credit) CreatePlanTx(ctx context.Context, ltx ledger.Tx, p credit.Plan, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	terms, ins, err := planJSON(p)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO credit_plans (`+creditPlanColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.PaymentID, p.MerchantID, p.CustomerID, p.Plan, p.Amount, string(p.Currency), string(p.Status), terms, ins,
		p.Refunded, p.WrittenOff, microsOrZero(p.NextWork()), micros(p.Created), micros(p.Updated), p.Version)
	if err != nil {
		if s.db.IsUniqueViolation(err) {
			return credit.ErrConflict
		}
		return fmt.Errorf("insert plan: %w", err)
	}
	return s.appendEvents(ctx, tx, evs)
}

func (s *Credit) appendEvents(ctx context.Context, tx *Tx, evs []webhook.Event) error {
	for _, ev := range evs {
		if err := s.events.AppendEvent(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

func (s *Credit) update(ctx context.Context, tx *Tx, p credit.Plan, evs []webhook.Event) error {
	terms, ins, err := planJSON(p)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE credit_plans SET status = ?, terms = ?, instalments = ?, refunded = ?,
		written_off = ?, next_work_at = ?, updated_at = ?, version = ? WHERE id = ? AND version = ?`,
		string(p.Status), terms, ins, p.Refunded, p.WrittenOff, microsOrZero(p.NextWork()), micros(p.Updated), p.Version,
		p.ID, p.Version-1)
	if err != nil {
		return fmt.Errorf("update plan: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return credit.ErrConflict
	}
	return s.appendEvents(ctx, tx, evs)
}

// UpdatePlanTx writes p in the ledger's transaction if it is still at
// version p.Version-1.
func (s *Credit) UpdatePlanTx(ctx context.Context, ltx ledger.Tx, p credit.Plan, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	return s.update(ctx, tx, p, evs)
}

// UpdatePlan writes p in a transaction of its own, under the lease fence
// ctx carries (the collection job's).
func (s *Credit) UpdatePlan(ctx context.Context, p credit.Plan, evs []webhook.Event) error {
	return s.db.Transact(ctx, s.db.fenced(ctx, func(tx *Tx) error { return s.update(ctx, tx, p, evs) }))
}

// Plan returns a plan by id.
func (s *Credit) Plan(ctx context.Context, id string) (credit.Plan, error) {
	return scanCreditPlan(s.db.QueryRowContext(ctx, `SELECT `+creditPlanColumns+` FROM credit_plans WHERE id = ?`, id))
}

// PlanByPayment returns the plan of a payment.
func (s *Credit) PlanByPayment(ctx context.Context, paymentID string) (credit.Plan, error) {
	return scanCreditPlan(s.db.QueryRowContext(ctx, `SELECT `+creditPlanColumns+` FROM credit_plans WHERE payment_id = ?`, paymentID))
}

func (s *Credit) query(ctx context.Context, q string, args ...any) ([]credit.Plan, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []credit.Plan
	for rows.Next() {
		p, err := scanCreditPlan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CustomerPlans returns up to limit of a payer's plans, newest first.
func (s *Credit) CustomerPlans(ctx context.Context, customerID string, limit int) ([]credit.Plan, error) {
	return s.query(ctx, `SELECT `+creditPlanColumns+` FROM credit_plans WHERE customer_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, customerID, limit)
}

// DuePlans returns up to limit plans with work due at t, earliest first.
func (s *Credit) DuePlans(ctx context.Context, t time.Time, limit int) ([]credit.Plan, error) {
	return s.query(ctx, `SELECT `+creditPlanColumns+` FROM credit_plans WHERE next_work_at > 0 AND next_work_at <= ?
		ORDER BY next_work_at, id LIMIT ?`, micros(t), limit)
}

// AllPlans pages through every plan by id.
func (s *Credit) AllPlans(ctx context.Context, after string, limit int) ([]credit.Plan, error) {
	return s.query(ctx, `SELECT `+creditPlanColumns+` FROM credit_plans WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// MerchantEnabled reports whether the merchant switched pay later on.
func (s *Credit) MerchantEnabled(ctx context.Context, merchantID string) (bool, error) {
	var on int64
	err := s.db.QueryRowContext(ctx, `SELECT enabled FROM credit_merchants WHERE merchant_id = ?`, merchantID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return on == 1, err
}

// SetMerchantEnabled switches pay later for a merchant.
func (s *Credit) SetMerchantEnabled(ctx context.Context, merchantID string, on bool, t time.Time) error {
	v := 0
	if on {
		v = 1
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO credit_merchants (merchant_id, enabled, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (merchant_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at`,
			merchantID, v, micros(t))
		return err
	})
}

// ListPlans returns up to f.Limit plans, newest first, of f.CustomerID
// and in f.Status when set, created before the plan f.Before (a cursor;
// "" from the newest).
func (s *Credit) ListPlans(ctx context.Context, f credit.PlanFilter) ([]credit.Plan, error) {
	q := `SELECT ` + creditPlanColumns + ` FROM credit_plans WHERE (customer_id = ? OR ? = '') AND (status = ? OR ? = '')`
	args := []any{f.CustomerID, f.CustomerID, string(f.Status), string(f.Status)}
	if f.Before != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM credit_plans WHERE id = ?`, f.Before).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errCreditPlanNotFound
		} else if err != nil {
			return nil, err
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, created, created, f.Before)
	}
	return s.query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, f.Limit)...)
}
