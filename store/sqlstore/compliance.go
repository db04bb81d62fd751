package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Compliance implements compliance.Store.
type Compliance struct {
	db     *DB
	events *Webhooks
}

// NewCompliance returns the compliance store over db.
func NewCompliance(db *DB) *Compliance { return &Compliance{db: db, events: NewWebhooks(db)} }

var _ compliance.Store = (*Compliance)(nil)

func (s *Compliance) forUpdate() string {
	if s.db.Dialect() == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// liveStatuses are the payment states whose deposits count.
const liveDeposit = `p.status IN ('requires_action', 'authorized', 'captured')`

func (s *Compliance) Limits(ctx context.Context, sub compliance.Subject) (compliance.Limits, error) {
	var data string
	err := s.db.QueryRowContext(ctx, `SELECT data FROM compliance_limits WHERE subject = ?`, sub.Key()).Scan(&data)
	return decodeLimits(data, err)
}

func decodeLimits(data string, err error) (compliance.Limits, error) {
	var l compliance.Limits
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	} else if err != nil {
		return l, fmt.Errorf("limits: %w", err)
	}
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return l, fmt.Errorf("limits: stored data: %w", err)
	}
	return l, nil
}

func (s *Compliance) UpdateLimits(ctx context.Context, sub compliance.Subject, fn func(compliance.Limits) (compliance.Limits, []webhook.Event, error)) (compliance.Limits, error) {
	var out compliance.Limits
	err := s.db.Transact(ctx, func(tx *Tx) error {
		if err := s.lockSubject(ctx, tx, sub.Key()); err != nil {
			return err
		}
		var data string
		err := tx.QueryRowContext(ctx, `SELECT data FROM compliance_limits WHERE subject = ?`, sub.Key()).Scan(&data)
		cur, err := decodeLimits(data, err)
		if err != nil {
			return err
		}
		next, evs, err := fn(cur)
		if err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_limits (subject, merchant_id, customer_id, data, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			sub.Key(), sub.MerchantID, sub.CustomerID, string(b), micros(next.Updated)); err != nil {
			return fmt.Errorf("store limits: %w", err)
		}
		for _, ev := range evs {
			if err := s.events.AppendEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	return out, err
}

// lockSubject makes the subject's lock row and locks it until tx ends
// (PostgreSQL: FOR UPDATE; SQLite: its one writer at a time).
func (s *Compliance) lockSubject(ctx context.Context, tx *Tx, key string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_subjects (subject) VALUES (?) ON CONFLICT (subject) DO NOTHING`, key); err != nil {
		return fmt.Errorf("lock subject: %w", err)
	}
	var got string
	if err := tx.QueryRowContext(ctx, `SELECT subject FROM compliance_subjects WHERE subject = ?`+s.forUpdate(), key).Scan(&got); err != nil {
		return fmt.Errorf("lock subject: %w", err)
	}
	return nil
}

func (s *Compliance) Reserve(ctx context.Context, r compliance.Reservation, windows []compliance.Window) (*compliance.Window, error) {
	// Lock in one order (sorted) so two deposits of one payer never
	// wait on each other crosswise.
	keys := slices.Clone(r.Subjects)
	for _, w := range windows {
		keys = append(keys, w.Subject)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var hit *compliance.Window
	err := s.db.Transact(ctx, func(tx *Tx) error {
		hit = nil
		for _, k := range keys {
			if err := s.lockSubject(ctx, tx, k); err != nil {
				return err
			}
		}
		for i, w := range windows {
			sum, err := s.deposited(ctx, tx, w.Subject, w.Currency, w.From, r.PaymentID)
			if err != nil {
				return err
			}
			if total, ok := sum.Add(r.Amount); !ok || total > w.Max {
				hit = &windows[i]
				return nil
			}
		}
		for _, k := range r.Subjects {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compliance_deposits (payment_id, subject, merchant_id, amount, currency, created_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (payment_id, subject) DO UPDATE SET amount = excluded.amount,
				currency = excluded.currency, created_at = excluded.created_at`,
				r.PaymentID, k, r.MerchantID, int64(r.Amount), string(r.Currency), micros(r.At)); err != nil {
				return fmt.Errorf("record deposit: %w", err)
			}
		}
		return nil
	})
	return hit, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Compliance) deposited(ctx context.Context, q queryer, subject string, cur money.Currency, from time.Time, except string) (money.Amount, error) {
	var sum int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(d.amount), 0) FROM compliance_deposits d
		JOIN payments p ON p.id = d.payment_id
		WHERE d.subject = ? AND d.currency = ? AND d.created_at >= ? AND d.payment_id <> ? AND `+liveDeposit,
		subject, string(cur), micros(from), except).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("sum deposits: %w", err)
	}
	return money.Amount(sum), nil
}

func (s *Compliance) Deposited(ctx context.Context, subject string, cur money.Currency, from time.Time) (money.Amount, error) {
	return s.deposited(ctx, s.db, subject, cur, from, "")
}

func (s *Compliance) AppendEvents(ctx context.Context, evs []webhook.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		for _, ev := range evs {
			if err := s.events.AppendEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}
