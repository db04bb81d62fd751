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
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Invoices implements invoice.Store.
type Invoices struct {
	db     *DB
	events *Webhooks
}

// NewInvoices returns the invoice store over db.
func NewInvoices(db *DB) *Invoices { return &Invoices{db: db, events: NewWebhooks(db)} }

var _ invoice.Store = (*Invoices)(nil)

const invoiceColumns = `id, merchant_id, number, status, currency, customer_id, customer, lines, subtotal, tax, total,
	amount_paid, amount_credited, due_days, footer, reverse_charge, locale, page_key, payment_id, reminders_sent,
	next_reminder_at, finalized_at, due_at, paid_at, ended_at, created_at, updated_at, version`

var (
	errInvoiceNotFound    = kassa.Errorf(kassa.ENotFound, "invoice_not_found", "no such invoice")
	errCreditNoteNotFound = kassa.Errorf(kassa.ENotFound, "credit_note_not_found", "no such credit note")
)

func scanInvoice(row interface{ Scan(...any) error }) (invoice.Invoice, error) {
	var inv invoice.Invoice
	var cur, status, customer, lines string
	var reverse int
	var next, finalized, due, paid, ended, created, updated int64
	err := row.Scan(&inv.ID, &inv.MerchantID, &inv.Number, &status, &cur, &inv.Customer.ID, &customer, &lines,
		&inv.Subtotal, &inv.Tax, &inv.Total, &inv.AmountPaid, &inv.AmountCredited, &inv.DueDays, &inv.Footer, &reverse,
		&inv.Locale, &inv.PageKey, &inv.PaymentID, &inv.RemindersSent, &next, &finalized, &due, &paid, &ended,
		&created, &updated, &inv.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return invoice.Invoice{}, errInvoiceNotFound
	} else if err != nil {
		return invoice.Invoice{}, err
	}
	inv.Currency, inv.Status, inv.ReverseCharge = money.Currency(cur), invoice.Status(status), reverse != 0
	if err := json.Unmarshal([]byte(customer), &inv.Customer); err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %s customer: %w", inv.ID, err)
	}
	if err := json.Unmarshal([]byte(lines), &inv.Lines); err != nil {
		return invoice.Invoice{}, fmt.Errorf("invoice %s lines: %w", inv.ID, err)
	}
	inv.NextReminderAt, inv.FinalizedAt, inv.DueAt = timeOrZero(next), timeOrZero(finalized), timeOrZero(due)
	inv.PaidAt, inv.EndedAt = timeOrZero(paid), timeOrZero(ended)
	inv.Created, inv.Updated = fromMicros(created), fromMicros(updated)
	return inv, nil
}

func (s *Invoices) appendEvents(ctx context.Context, tx *Tx, evs []webhook.Event) error {
	for _, ev := range evs {
		if err := s.events.AppendEvent(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// CreateInvoice inserts an invoice and its events.
func (s *Invoices) CreateInvoice(ctx context.Context, inv invoice.Invoice, evs []webhook.Event) error {
	customer, err := json.Marshal(inv.Customer)
	if err != nil {
		return err
	}
	lines, err := json.Marshal(inv.Lines)
	if err != nil {
		return err
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO invoices (`+invoiceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
			?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inv.ID, inv.MerchantID, inv.Number, string(inv.Status), string(inv.Currency), inv.Customer.ID, string(customer),
			string(lines), inv.Subtotal, inv.Tax, inv.Total, inv.AmountPaid, inv.AmountCredited, inv.DueDays, inv.Footer,
			boolInt(inv.ReverseCharge), inv.Locale, inv.PageKey, inv.PaymentID, inv.RemindersSent,
			microsOrZero(inv.NextReminderAt), microsOrZero(inv.FinalizedAt), microsOrZero(inv.DueAt), microsOrZero(inv.PaidAt),
			microsOrZero(inv.EndedAt), micros(inv.Created), micros(inv.Updated), inv.Version)
		if err != nil {
			return fmt.Errorf("insert invoice: %w", err)
		}
		return s.appendEvents(ctx, tx, evs)
	})
}

// update writes inv if the stored version is inv.Version-1.
func (s *Invoices) update(ctx context.Context, tx *Tx, inv invoice.Invoice, evs []webhook.Event) error {
	customer, err := json.Marshal(inv.Customer)
	if err != nil {
		return err
	}
	lines, err := json.Marshal(inv.Lines)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE invoices SET number = ?, status = ?, currency = ?, customer_id = ?,
		customer = ?, lines = ?, subtotal = ?, tax = ?, total = ?, amount_paid = ?, amount_credited = ?, due_days = ?,
		footer = ?, reverse_charge = ?, locale = ?, payment_id = ?, reminders_sent = ?, next_reminder_at = ?,
		finalized_at = ?, due_at = ?, paid_at = ?, ended_at = ?, updated_at = ?, version = ?
		WHERE id = ? AND version = ?`,
		inv.Number, string(inv.Status), string(inv.Currency), inv.Customer.ID, string(customer), string(lines),
		inv.Subtotal, inv.Tax, inv.Total, inv.AmountPaid, inv.AmountCredited, inv.DueDays, inv.Footer,
		boolInt(inv.ReverseCharge), inv.Locale, inv.PaymentID, inv.RemindersSent, microsOrZero(inv.NextReminderAt),
		microsOrZero(inv.FinalizedAt), microsOrZero(inv.DueAt), microsOrZero(inv.PaidAt), microsOrZero(inv.EndedAt),
		micros(inv.Updated), inv.Version, inv.ID, inv.Version-1)
	if err != nil {
		return fmt.Errorf("update invoice: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return invoice.ErrConflict
	}
	return s.appendEvents(ctx, tx, evs)
}

// UpdateInvoice writes an invoice (version checked) with its events.
func (s *Invoices) UpdateInvoice(ctx context.Context, inv invoice.Invoice, evs []webhook.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error { return s.update(ctx, tx, inv, evs) })
}

// RemindInvoice writes a reminder's invoice change and counts it against
// the merchant's reminders of day, in one transaction. The count is a row
// of invoice_sequences ("reminders:YYYY-MM-DD", taken as sequence values
// are, so concurrent workers cannot pass the cap); earlier days' rows go.
func (s *Invoices) RemindInvoice(ctx context.Context, inv invoice.Invoice, evs []webhook.Event, day string, max int) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		name := "reminders:" + day
		n, err := nextValue(ctx, tx, inv.MerchantID, name)
		if err != nil {
			return err
		}
		if n > int64(max) {
			return invoice.ErrReminderBudget // rolls the count back
		}
		if n == 1 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM invoice_sequences
				WHERE merchant_id = ? AND name LIKE 'reminders:%' AND name < ?`, inv.MerchantID, name); err != nil {
				return err
			}
		}
		return s.update(ctx, tx, inv, evs)
	})
}

// nextValue takes the next value of a merchant's sequence inside tx. The
// UPDATE locks the sequence's row until tx ends (PostgreSQL) or runs
// under SQLite's one writer, so concurrent transactions take values one
// after the other, and a rolled-back one gives its value back.
func nextValue(ctx context.Context, tx *Tx, merchantID, name string) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO invoice_sequences (merchant_id, name, last_value) VALUES (?, ?, 0)
		ON CONFLICT (merchant_id, name) DO NOTHING`, merchantID, name); err != nil {
		return 0, fmt.Errorf("insert sequence: %w", err)
	}
	var n int64
	err := tx.QueryRowContext(ctx, `UPDATE invoice_sequences SET last_value = last_value + 1
		WHERE merchant_id = ? AND name = ? RETURNING last_value`, merchantID, name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next value of sequence %s: %w", name, err)
	}
	return n, nil
}

// FinalizeInvoice numbers inv from the merchant's sequence and writes it.
func (s *Invoices) FinalizeInvoice(ctx context.Context, inv invoice.Invoice, seq invoice.Sequence,
	events func(invoice.Invoice) ([]webhook.Event, error)) (invoice.Invoice, error) {
	var out invoice.Invoice
	err := s.db.Transact(ctx, func(tx *Tx) error {
		n, err := nextValue(ctx, tx, inv.MerchantID, seq.Key())
		if err != nil {
			return err
		}
		out = inv
		out.Number = seq.Format(n)
		evs, err := events(out)
		if err != nil {
			return err
		}
		return s.update(ctx, tx, out, evs)
	})
	return out, err
}

// Invoice returns an invoice of merchantID ("" any merchant).
func (s *Invoices) Invoice(ctx context.Context, merchantID, id string) (invoice.Invoice, error) {
	q := `SELECT ` + invoiceColumns + ` FROM invoices WHERE id = ?`
	args := []any{id}
	if merchantID != "" {
		q += ` AND merchant_id = ?`
		args = append(args, merchantID)
	}
	return scanInvoice(s.db.QueryRowContext(ctx, q, args...))
}

// Invoices returns a page of a merchant's invoices, newest first.
func (s *Invoices) Invoices(ctx context.Context, f invoice.Filter) ([]invoice.Invoice, bool, error) {
	where := []string{"merchant_id = ?"}
	args := []any{f.MerchantID}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Customer != "" {
		where, args = append(where, "customer_id = ?"), append(args, f.Customer)
	}
	if f.StartingAfter != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM invoices WHERE id = ? AND merchant_id = ?`,
			f.StartingAfter, f.MerchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after names no invoice of yours")
		} else if err != nil {
			return nil, false, err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, created, created, f.StartingAfter)
	}
	args = append(args, f.Limit+1)
	out, err := s.query(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, err
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

func (s *Invoices) query(ctx context.Context, q string, args ...any) ([]invoice.Invoice, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []invoice.Invoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// PaidOpenInvoices returns open (or uncollectible) invoices whose
// payment is captured.
func (s *Invoices) PaidOpenInvoices(ctx context.Context, limit int) ([]invoice.Invoice, error) {
	return s.query(ctx, `SELECT `+invoiceColumns+` FROM invoices
		WHERE status IN ('open', 'uncollectible') AND payment_id <> ''
		AND EXISTS (SELECT 1 FROM payments p WHERE p.id = invoices.payment_id AND p.status = 'captured')
		ORDER BY updated_at, id LIMIT ?`, limit)
}

// RemindersDue returns open invoices whose next reminder is due.
func (s *Invoices) RemindersDue(ctx context.Context, now time.Time, limit int) ([]invoice.Invoice, error) {
	return s.query(ctx, `SELECT `+invoiceColumns+` FROM invoices
		WHERE status = 'open' AND next_reminder_at > 0 AND next_reminder_at <= ?
		ORDER BY next_reminder_at, id LIMIT ?`, micros(now), limit)
}

const creditNoteColumns = `id, merchant_id, invoice_id, number, lines, subtotal, tax, total, reason, refund,
	refund_id, refund_status, created_at`

func scanCreditNote(row interface{ Scan(...any) error }) (invoice.CreditNote, error) {
	var cn invoice.CreditNote
	var lines string
	var refund int
	var created int64
	err := row.Scan(&cn.ID, &cn.MerchantID, &cn.InvoiceID, &cn.Number, &lines, &cn.Subtotal, &cn.Tax, &cn.Total,
		&cn.Reason, &refund, &cn.RefundID, &cn.RefundStatus, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return invoice.CreditNote{}, errCreditNoteNotFound
	} else if err != nil {
		return invoice.CreditNote{}, err
	}
	if err := json.Unmarshal([]byte(lines), &cn.Lines); err != nil {
		return invoice.CreditNote{}, fmt.Errorf("credit note %s lines: %w", cn.ID, err)
	}
	cn.Refund, cn.Created = refund != 0, fromMicros(created)
	return cn, nil
}

// CreateCreditNote numbers and inserts cn and adds its total to the
// invoice's credited amount, within the invoice's total.
func (s *Invoices) CreateCreditNote(ctx context.Context, cn invoice.CreditNote, inv invoice.Invoice, seq invoice.Sequence,
	events func(invoice.CreditNote) ([]webhook.Event, error)) (invoice.CreditNote, error) {
	lines, err := json.Marshal(cn.Lines)
	if err != nil {
		return invoice.CreditNote{}, err
	}
	var out invoice.CreditNote
	err = s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE invoices SET amount_credited = amount_credited + ?, updated_at = ?,
			version = ? WHERE id = ? AND merchant_id = ? AND version = ? AND status = 'paid' AND amount_credited + ? <= total`,
			cn.Total, micros(inv.Updated), inv.Version, inv.ID, inv.MerchantID, inv.Version-1, cn.Total)
		if err != nil {
			return fmt.Errorf("credit invoice: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return invoice.ErrConflict
		}
		n, err := nextValue(ctx, tx, cn.MerchantID, seq.Key())
		if err != nil {
			return err
		}
		out = cn
		out.Number = seq.Format(n)
		if _, err := tx.ExecContext(ctx, `INSERT INTO credit_notes (`+creditNoteColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			out.ID, out.MerchantID, out.InvoiceID, out.Number, string(lines), out.Subtotal, out.Tax, out.Total, out.Reason,
			boolInt(out.Refund), out.RefundID, out.RefundStatus, micros(out.Created)); err != nil {
			return fmt.Errorf("insert credit note: %w", err)
		}
		evs, err := events(out)
		if err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs)
	})
	return out, err
}

// SetCreditNoteRefund records a credit note's refund.
func (s *Invoices) SetCreditNoteRefund(ctx context.Context, cn invoice.CreditNote) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE credit_notes SET refund_id = ?, refund_status = ? WHERE id = ?`,
			cn.RefundID, cn.RefundStatus, cn.ID)
		return err
	})
}

// CreditNotes lists an invoice's credit notes, oldest first (the
// service keeps an invoice's to at most a hundred; the query's bound is
// above it).
func (s *Invoices) CreditNotes(ctx context.Context, merchantID, invoiceID string) ([]invoice.CreditNote, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+creditNoteColumns+` FROM credit_notes
		WHERE merchant_id = ? AND invoice_id = ? ORDER BY created_at, id LIMIT 1000`, merchantID, invoiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []invoice.CreditNote
	for rows.Next() {
		cn, err := scanCreditNote(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, cn)
	}
	return out, rows.Err()
}

// Settings returns a merchant's invoice settings.
func (s *Invoices) Settings(ctx context.Context, merchantID string) (invoice.Settings, error) {
	set := invoice.Settings{MerchantID: merchantID}
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT number_prefix, seller_address, seller_vat_id, updated_at
		FROM invoice_settings WHERE merchant_id = ?`, merchantID).Scan(&set.NumberPrefix, &set.SellerAddress,
		&set.SellerVATID, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return invoice.Settings{}, kassa.Errorf(kassa.ENotFound, "invoice_settings_not_found", "no invoice settings")
	} else if err != nil {
		return invoice.Settings{}, err
	}
	set.Updated = fromMicros(updated)
	return set, nil
}

// PutSettings writes a merchant's invoice settings.
func (s *Invoices) PutSettings(ctx context.Context, set invoice.Settings) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO invoice_settings (merchant_id, number_prefix, seller_address,
			seller_vat_id, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (merchant_id) DO UPDATE SET number_prefix = excluded.number_prefix,
			seller_address = excluded.seller_address, seller_vat_id = excluded.seller_vat_id, updated_at = excluded.updated_at`,
			set.MerchantID, set.NumberPrefix, set.SellerAddress, set.SellerVATID, micros(set.Updated))
		return err
	})
}
