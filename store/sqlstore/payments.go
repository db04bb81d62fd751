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
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/webhook"
)

// Payments implements payment.Store.
type Payments struct {
	db     *DB
	events *Webhooks
}

// NewPayments returns the payment store over db.
func NewPayments(db *DB) *Payments { return &Payments{db: db, events: NewWebhooks(db)} }

var _ payment.Store = (*Payments)(nil)

const paymentColumns = `id, merchant_id, amount, currency, capture_method, status, amount_capturable,
	amount_captured, amount_refunded, merchant_reference, description, return_url, metadata, client_secret,
	method_type, failure_code, expires_at, created_at, updated_at, version,
	card_ref, card_brand, card_last4, card_exp_month, card_exp_year, card_fingerprint,
	acquirer_auth_id, acquirer_state, acquirer_key, challenge_id,
	customer_id, customer_email, billing_country,
	risk_evaluation, risk_score, risk_level, risk_decision, risk_factor, risk_reasons, risk_review,
	risk_challenge, risk_trans_status, risk_eci, payer_id, amount_refund_pending, refund_seq,
	card_trans_status, card_eci, locale, customer_phone, method_ref, attempts, seal_subject`

var errPaymentNotFound = kassa.Errorf(kassa.ENotFound, "payment_not_found", "no such payment")

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func timeOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// scanPaymentSealed scans a payment as stored, its personal fields
// still sealed, and the subject whose key seals them.
func scanPaymentSealed(row interface{ Scan(...any) error }) (payment.Payment, string, error) {
	var p payment.Payment
	var subject string
	var cur, status string
	var ref, meta sql.NullString
	var expires, created, updated int64
	var reasons string
	err := row.Scan(&p.ID, &p.MerchantID, &p.Amount, &cur, &p.CaptureMethod, &status, &p.AmountCapturable,
		&p.AmountCaptured, &p.AmountRefunded, &ref, &p.Description, &p.ReturnURL, &meta, &p.ClientSecret,
		&p.MethodType, &p.FailureCode, &expires, &created, &updated, &p.Version,
		&p.Card.Ref, &p.Card.Brand, &p.Card.Last4, &p.Card.ExpMonth, &p.Card.ExpYear, &p.Card.Fingerprint,
		&p.Card.AuthorizationID, &p.Card.AcquirerState, &p.Card.AttemptKey, &p.Card.ChallengeID,
		&p.Customer.ID, &p.Customer.Email, &p.Customer.BillingCountry,
		&p.Risk.EvaluationID, &p.Risk.Score, &p.Risk.Level, &p.Risk.Decision, &p.Risk.Factor, &reasons, &p.Risk.Review,
		&p.Risk.Challenge, &p.Risk.TransStatus, &p.Risk.ECI, &p.PayerID, &p.AmountRefundPending, &p.RefundSeq,
		&p.Card.TransStatus, &p.Card.ECI, &p.Locale, &p.Customer.Phone, &p.MethodRef, &p.Attempts, &subject)
	if err != nil {
		return p, "", err
	}
	if reasons != "" {
		if err := json.Unmarshal([]byte(reasons), &p.Risk.Reasons); err != nil {
			return p, "", fmt.Errorf("payment %s risk reasons: %w", p.ID, err)
		}
	}
	p.Currency, p.Status, p.MerchantReference = money.Currency(cur), payment.Status(status), ref.String
	if meta.Valid {
		p.Metadata = []byte(meta.String)
	}
	p.ExpiresAt, p.Created, p.Updated = timeOrZero(expires), fromMicros(created), fromMicros(updated)
	return p, subject, nil
}

// paymentSubject is whose key seals a payment's personal fields: the
// merchant's customer it names, else the payment itself (a payment
// without a customer id is a subject of its own: nothing else names that
// person).
func paymentSubject(p payment.Payment) string {
	if p.Customer.ID != "" {
		return p.MerchantID + "/" + p.Customer.ID
	}
	return p.ID
}

func paymentFields(p *payment.Payment) []personalField {
	return []personalField{{"customer_email", &p.Customer.Email}, {"customer_phone", &p.Customer.Phone}}
}

// openPayment opens the personal fields of a scanned payment.
func (s *Payments) openPayment(ctx context.Context, p *payment.Payment, subject string) error {
	return s.db.openFields(ctx, subject, paymentFields(p)...)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Payments) loadVouchers(ctx context.Context, q querier, p *payment.Payment) error {
	rows, err := q.QueryContext(ctx, `SELECT seq, serial, amount, captured, refunded FROM payment_vouchers
		WHERE payment_id = ? ORDER BY seq`, p.ID)
	if err != nil {
		return fmt.Errorf("select payment vouchers: %w", err)
	}
	defer rows.Close()
	p.Vouchers = nil
	for rows.Next() {
		var u payment.VoucherUse
		if err := rows.Scan(&u.Seq, &u.Serial, &u.Amount, &u.Captured, &u.Refunded); err != nil {
			return err
		}
		p.Vouchers = append(p.Vouchers, u)
	}
	return rows.Err()
}

func (s *Payments) CreatePayment(ctx context.Context, p payment.Payment, ev webhook.Event) error {
	var subject string
	var key seal.Key
	err := s.db.Transact(ctx, func(tx *Tx) error {
		// The request's answer first: a key another request stored
		// already fails this one before its payment is written.
		if err := storePending(ctx, tx, p); err != nil {
			return err
		}
		var meta sql.NullString
		if len(p.Metadata) > 0 {
			meta = sql.NullString{String: string(p.Metadata), Valid: true}
		}
		// What this process caches is the payment in clear, as read.
		committed := clonePayment(p)
		// The personal fields are sealed under the subject's key (made
		// here on first use), in a copy: a retried transaction seals the
		// clear values again.
		p := p
		var err error
		subject, key, err = s.db.sealFields(ctx, tx, paymentSubject(p), p.Created, paymentFields(&p)...)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO payments (`+paymentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
				?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.MerchantID, p.Amount, string(p.Currency), p.CaptureMethod, string(p.Status), p.AmountCapturable,
			p.AmountCaptured, p.AmountRefunded, nullString(p.MerchantReference), p.Description, p.ReturnURL, meta,
			p.ClientSecret, p.MethodType, p.FailureCode, microsOrZero(p.ExpiresAt), micros(p.Created), micros(p.Updated), p.Version,
			p.Card.Ref, p.Card.Brand, p.Card.Last4, p.Card.ExpMonth, p.Card.ExpYear, p.Card.Fingerprint,
			p.Card.AuthorizationID, p.Card.AcquirerState, p.Card.AttemptKey, p.Card.ChallengeID,
			p.Customer.ID, p.Customer.Email, p.Customer.BillingCountry,
			p.Risk.EvaluationID, p.Risk.Score, p.Risk.Level, p.Risk.Decision, p.Risk.Factor, riskReasons(p.Risk), p.Risk.Review,
			p.Risk.Challenge, p.Risk.TransStatus, p.Risk.ECI, p.PayerID, p.AmountRefundPending, p.RefundSeq,
			p.Card.TransStatus, p.Card.ECI, p.Locale, p.Customer.Phone, p.MethodRef, p.Attempts, subject)
		if err != nil {
			return err
		}
		tx.AfterCommit(func() { s.db.paymentCache().put(committed) })
		return s.events.AppendEvent(ctx, tx, ev)
	})
	if err == nil && key.Subject != "" && subject != p.ID {
		// Committed: later payments of the customer find it cached. (A
		// payment's own key is not: it is read back rarely.)
		s.db.Sealing().Remember(key)
	}
	if err != nil && s.db.IsUniqueViolation(err) && p.MerchantReference != "" {
		var existing string
		qerr := s.db.QueryRowContext(ctx, `SELECT id FROM payments WHERE merchant_id = ? AND merchant_reference = ?
			AND status IN ('requires_action', 'authorized', 'captured')`, p.MerchantID, p.MerchantReference).Scan(&existing)
		if qerr == nil {
			return &payment.DuplicateError{ExistingID: existing}
		}
	}
	if err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	return nil
}

func (s *Payments) Payment(ctx context.Context, merchantID, id string) (payment.Payment, error) {
	if p, ok := s.cachedPayment(ctx, merchantID, id); ok {
		return p, nil
	}
	p, subject, err := scanPaymentSealed(s.db.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE id = ? AND (merchant_id = ? OR ? = '')`, id, merchantID, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return p, errPaymentNotFound
	} else if err != nil {
		return p, fmt.Errorf("select payment: %w", err)
	}
	if err := s.openPayment(ctx, &p, subject); err != nil {
		return p, err
	}
	if err := s.loadVouchers(ctx, s.db, &p); err != nil {
		return p, err
	}
	s.db.paymentCache().put(p)
	return p, nil
}

func (s *Payments) Payments(ctx context.Context, f payment.Filter) ([]payment.Payment, bool, error) {
	var where []string
	args := []any{}
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("merchant_id = ?", f.MerchantID)
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.MerchantReference != "" {
		add("merchant_reference = ?", f.MerchantReference)
	}
	if f.Customer != "" {
		add("(customer_id = ? OR payer_id = ?)", f.Customer, f.Customer)
	}
	if !f.CreatedGTE.IsZero() {
		add("created_at >= ?", micros(f.CreatedGTE))
	}
	if !f.CreatedLT.IsZero() {
		add("created_at < ?", micros(f.CreatedLT))
	}
	if f.StartingAfter != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM payments WHERE id = ? AND merchant_id = ?`,
			f.StartingAfter, f.MerchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after names no payment of yours")
		} else if err != nil {
			return nil, false, err
		}
		add("(created_at < ? OR (created_at = ? AND id < ?))", created, created, f.StartingAfter)
	}
	args = append(args, f.Limit+1)
	ps, err := s.queryPayments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, err
	}
	if len(ps) > f.Limit {
		return ps[:f.Limit], true, nil
	}
	return ps, false, nil
}

// PaymentsByPayer lists a payer's payments across merchants. No index
// serves payer_id yet: the query scans payments (see docs/identity.md).
func (s *Payments) PaymentsByPayer(ctx context.Context, payerID string, limit int) ([]payment.Payment, error) {
	return s.queryPayments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payer_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, payerID, limit)
}

// queryPayments runs a query over paymentColumns and loads each payment's
// vouchers.
func (s *Payments) queryPayments(ctx context.Context, query string, args ...any) ([]payment.Payment, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select payments: %w", err)
	}
	ps, subjects, err := collectPayments(rows)
	if err != nil {
		return nil, err
	}
	if err := s.db.preloadKeys(ctx, subjects); err != nil {
		return nil, err
	}
	for i := range ps {
		if err := s.openPayment(ctx, &ps[i], subjects[i]); err != nil {
			return nil, err
		}
		if err := s.loadVouchers(ctx, s.db, &ps[i]); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func collectPayments(rows *sql.Rows) ([]payment.Payment, []string, error) {
	defer rows.Close()
	var ps []payment.Payment
	var subjects []string
	for rows.Next() {
		p, subject, err := scanPaymentSealed(rows)
		if err != nil {
			return nil, nil, err
		}
		ps, subjects = append(ps, p), append(subjects, subject)
	}
	return ps, subjects, rows.Err()
}

// paymentUpdateColumns are the columns an update may change, in the
// order of paymentUpdateValues.
var paymentUpdateColumns = []string{"status", "amount_capturable", "amount_captured",
	"amount_refunded", "method_type", "failure_code", "expires_at",
	"card_ref", "card_brand", "card_last4", "card_exp_month", "card_exp_year", "card_fingerprint",
	"acquirer_auth_id", "acquirer_state", "acquirer_key", "challenge_id",
	"risk_evaluation", "risk_score", "risk_level", "risk_decision", "risk_factor", "risk_reasons", "risk_review",
	"risk_challenge", "risk_trans_status", "risk_eci", "payer_id",
	"amount_refund_pending", "refund_seq", "card_trans_status", "card_eci", "method_ref", "attempts"}

func paymentUpdateValues(p payment.Payment) []any {
	return []any{string(p.Status), p.AmountCapturable, p.AmountCaptured, p.AmountRefunded, p.MethodType, p.FailureCode,
		microsOrZero(p.ExpiresAt),
		p.Card.Ref, p.Card.Brand, p.Card.Last4, p.Card.ExpMonth, p.Card.ExpYear, p.Card.Fingerprint,
		p.Card.AuthorizationID, p.Card.AcquirerState, p.Card.AttemptKey, p.Card.ChallengeID,
		p.Risk.EvaluationID, p.Risk.Score, p.Risk.Level, p.Risk.Decision, p.Risk.Factor, riskReasons(p.Risk), p.Risk.Review,
		p.Risk.Challenge, p.Risk.TransStatus, p.Risk.ECI, p.PayerID,
		p.AmountRefundPending, p.RefundSeq, p.Card.TransStatus, p.Card.ECI, p.MethodRef, p.Attempts}
}

// updatePayment writes p if the stored version is p.Version-1. When this
// process has that version cached (it read or wrote it), only the columns
// and voucher rows that changed are written: the version check makes the
// stored row equal to the cached one, and an UPDATE that leaves a column
// alone leaves its indexes alone. Otherwise every column is written.
func (s *Payments) updatePayment(ctx context.Context, tx *Tx, p payment.Payment, evs []webhook.Event) error {
	cache := s.db.paymentCache()
	prev, diff := cache.get(p.ID)
	diff = diff && prev.Version == p.Version-1
	var set strings.Builder
	set.WriteString("UPDATE payments SET updated_at = ?, version = ?")
	args := []any{micros(p.Updated), p.Version}
	values := paymentUpdateValues(p)
	var old []any
	if diff {
		old = paymentUpdateValues(prev)
	}
	for i, col := range paymentUpdateColumns {
		if diff && old[i] == values[i] {
			continue
		}
		set.WriteString(", " + col + " = ?")
		args = append(args, values[i])
	}
	set.WriteString(" WHERE id = ? AND version = ?")
	args = append(args, p.ID, p.Version-1)
	res, err := tx.ExecContext(ctx, set.String(), args...)
	if err != nil {
		return fmt.Errorf("update payment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		cache.drop(p.ID) // another write moved it on
		return payment.ErrConflict
	}
	if err := s.writeVouchers(ctx, tx, p, prev.Vouchers, diff); err != nil {
		return err
	}
	for _, ev := range evs {
		if err := s.events.AppendEvent(ctx, tx, ev); err != nil {
			return err
		}
	}
	committed := clonePayment(p)
	tx.AfterCommit(func() { cache.put(committed) })
	return nil
}

// writeVouchers stores p's voucher rows: with known (the rows at the
// previous version), only those that changed; else all of them again.
func (s *Payments) writeVouchers(ctx context.Context, tx *Tx, p payment.Payment, prev []payment.VoucherUse, known bool) error {
	if !known {
		if _, err := tx.ExecContext(ctx, `DELETE FROM payment_vouchers WHERE payment_id = ?`, p.ID); err != nil {
			return err
		}
		prev = nil
	}
	was := make(map[int]payment.VoucherUse, len(prev))
	for _, u := range prev {
		was[u.Seq] = u
	}
	for _, u := range p.Vouchers {
		w, ok := was[u.Seq]
		delete(was, u.Seq)
		switch {
		case ok && w == u:
		case ok:
			if _, err := tx.ExecContext(ctx, `UPDATE payment_vouchers SET serial = ?, amount = ?, captured = ?, refunded = ?
				WHERE payment_id = ? AND seq = ?`, u.Serial, u.Amount, u.Captured, u.Refunded, p.ID, u.Seq); err != nil {
				return fmt.Errorf("update payment voucher: %w", err)
			}
		default:
			if _, err := tx.ExecContext(ctx, `INSERT INTO payment_vouchers (payment_id, seq, serial, amount, captured, refunded)
				VALUES (?, ?, ?, ?, ?, ?)`, p.ID, u.Seq, u.Serial, u.Amount, u.Captured, u.Refunded); err != nil {
				return fmt.Errorf("insert payment voucher: %w", err)
			}
		}
	}
	for seq := range was {
		if _, err := tx.ExecContext(ctx, `DELETE FROM payment_vouchers WHERE payment_id = ? AND seq = ?`, p.ID, seq); err != nil {
			return fmt.Errorf("delete payment voucher: %w", err)
		}
	}
	return nil
}

// riskReasons is the JSON of a payment's risk reasons ("" none).
func riskReasons(r payment.RiskResult) string {
	if len(r.Reasons) == 0 {
		return ""
	}
	b, err := json.Marshal(r.Reasons)
	if err != nil {
		panic(err) // plain structs of strings and numbers always marshal
	}
	return string(b)
}

func (s *Payments) UpdatePayment(ctx context.Context, p payment.Payment, evs []webhook.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error { return s.updatePayment(ctx, tx, p, evs) })
}

func ledgerTxOf(ltx ledger.Tx) (*Tx, error) {
	tx := LedgerSQLTx(ltx)
	if tx == nil {
		return nil, errors.New("payments: the ledger does not run on the SQL store")
	}
	return tx, nil
}

// UpdatePaymentTx also stores the answer of the request ctx serves, when
// its handler renders the payment (package idempotency): the ledger effect
// of a confirm or capture is its one durable commit.
func (s *Payments) UpdatePaymentTx(ctx context.Context, ltx ledger.Tx, p payment.Payment, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	if err := s.updatePayment(ctx, tx, p, evs); err != nil {
		return err
	}
	return storePending(ctx, tx, p)
}

func (s *Payments) CreateRefundTx(ctx context.Context, ltx ledger.Tx, r payment.Refund, p payment.Payment, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	// The payment first: its version check turns a concurrent refund
	// into ErrConflict before the refund's sequence collides.
	if err := s.updatePayment(ctx, tx, p, evs); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO refunds (`+refundColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.PaymentID, r.MerchantID, r.Amount, string(r.Currency), r.Reason, r.Status, micros(r.Created),
		r.Seq, r.AcquirerKey, r.FailureCode, r.RequestKey)
	if err != nil {
		return fmt.Errorf("insert refund: %w", err)
	}
	return nil
}

func (s *Payments) UpdateRefundTx(ctx context.Context, ltx ledger.Tx, r payment.Refund, p payment.Payment, evs []webhook.Event) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE refunds SET status = ?, failure_code = ? WHERE id = ? AND status = 'pending'`,
		r.Status, r.FailureCode, r.ID)
	if err != nil {
		return fmt.Errorf("update refund: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return payment.ErrConflict
	}
	return s.updatePayment(ctx, tx, p, evs)
}

const refundColumns = `id, payment_id, merchant_id, amount, currency, reason, status, created_at,
	seq, acquirer_key, failure_code, request_key`

func scanRefund(row interface{ Scan(...any) error }) (payment.Refund, error) {
	var r payment.Refund
	var cur string
	var created int64
	err := row.Scan(&r.ID, &r.PaymentID, &r.MerchantID, &r.Amount, &cur, &r.Reason, &r.Status, &created,
		&r.Seq, &r.AcquirerKey, &r.FailureCode, &r.RequestKey)
	r.Currency, r.Created = money.Currency(cur), fromMicros(created)
	return r, err
}

var errRefundNotFound = kassa.Errorf(kassa.ENotFound, "refund_not_found", "no such refund")

func (s *Payments) Refund(ctx context.Context, merchantID, id string) (payment.Refund, error) {
	r, err := scanRefund(s.db.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM refunds WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errRefundNotFound
	}
	return r, err
}

func (s *Payments) RefundByRequestKey(ctx context.Context, merchantID, key string) (payment.Refund, error) {
	r, err := scanRefund(s.db.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM refunds
		WHERE merchant_id = ? AND request_key = ? AND request_key <> '' ORDER BY created_at DESC, id DESC LIMIT 1`, merchantID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errRefundNotFound
	}
	return r, err
}

func (s *Payments) PendingRefunds(ctx context.Context, limit int) ([]payment.Refund, error) {
	return s.queryRefunds(ctx, `SELECT `+refundColumns+` FROM refunds WHERE status = 'pending' ORDER BY created_at, id LIMIT ?`, limit)
}

func (s *Payments) Refunds(ctx context.Context, paymentID string) ([]payment.Refund, error) {
	return s.queryRefunds(ctx, `SELECT `+refundColumns+` FROM refunds WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
}

func (s *Payments) queryRefunds(ctx context.Context, query string, args ...any) ([]payment.Refund, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select refunds: %w", err)
	}
	defer rows.Close()
	var rs []payment.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

func (s *Payments) DuePayments(ctx context.Context, now time.Time, limit int) ([]payment.Payment, error) {
	return s.queryPayments(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE status IN ('requires_action', 'authorized') AND expires_at > 0 AND expires_at <= ?
		ORDER BY expires_at LIMIT ?`, micros(now), limit)
}

func (s *Payments) CaptureWindow(ctx context.Context, merchantID string) (time.Duration, error) {
	cache, now := s.db.windowCache(), time.Now()
	if d, ok := cache.get(merchantID, now); ok {
		return d, nil
	}
	var secs int64
	err := s.db.QueryRowContext(ctx, `SELECT capture_window_seconds FROM merchant_settings WHERE merchant_id = ?`, merchantID).Scan(&secs)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	} else if err != nil {
		return 0, err
	}
	d := time.Duration(secs) * time.Second
	cache.put(merchantID, d, now)
	return d, nil
}

func (s *Payments) SetCaptureWindow(ctx context.Context, merchantID string, d time.Duration) error {
	defer s.db.windowCache().drop(merchantID) // after the commit, and after a failure too
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchant_settings (merchant_id, capture_window_seconds) VALUES (?, ?)
			ON CONFLICT (merchant_id) DO UPDATE SET capture_window_seconds = excluded.capture_window_seconds`,
			merchantID, int64(d/time.Second))
		return err
	})
}

func (s *Payments) Currencies(ctx context.Context, merchantID string) ([]money.Currency, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT currency FROM payments WHERE merchant_id = ? ORDER BY currency`, merchantID)
	if err != nil {
		return nil, err
	}
	return scanColumn[money.Currency](rows)
}

func (s *Payments) AllPayments(ctx context.Context, after string, limit int) ([]payment.Payment, error) {
	return s.queryPayments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

func (s *Payments) AcquirerPending(ctx context.Context, limit int) ([]payment.Payment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE acquirer_state IN ('authorizing', 'unknown') ORDER BY updated_at LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("select card payments in flight: %w", err)
	}
	ps, subjects, err := collectPayments(rows)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if err := s.openPayment(ctx, &ps[i], subjects[i]); err != nil {
			return nil, err
		}
	}
	return ps, nil
}
