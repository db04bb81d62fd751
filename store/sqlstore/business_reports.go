package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/kassa/kassa/business"
)

// reportQuery is a listing report's SQL: its select list yields the
// report's columns (times as unix microseconds, named in times) and ends
// with the keyset columns (an integer and a text, ascending).
type reportQuery struct {
	sql   string // ?s: merchant, lower bound, end, [below leaf, lower bound], key int ×2, key text, limit
	kinds string // per report column: s text, i integer, t time (unix microseconds, 0 none)
	leaf  bool   // takes the checkpoint's tree size after start and end
}

var reportQueries = map[string]reportQuery{
	business.ReportPayments: {sql: `SELECT p.id, p.created_at, p.status, p.method_type, p.currency, p.amount,
		p.amount_captured, p.amount_refunded, COALESCE(f.fee, 0), COALESCE(p.merchant_reference, ''), p.created_at, p.id
		FROM payments p LEFT JOIN payment_fees f ON f.payment_id = p.id
		WHERE p.merchant_id = ? AND p.created_at >= ? AND p.created_at < ?
		AND (p.created_at > ? OR (p.created_at = ? AND p.id > ?)) ORDER BY p.created_at, p.id LIMIT ?`,
		kinds: "stsssiiiis"},
	business.ReportPayouts: {sql: `SELECT id, created_at, status, currency, amount, destination_type, customer_id,
		failure_code, paid_at, created_at, id FROM payouts
		WHERE merchant_id = ? AND created_at >= ? AND created_at < ? AND ` + settlementExcluded + `
		AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`,
		kinds: "stssissst"},
	business.ReportRiskDecisions: {sql: `SELECT id, created_at, subject, decision, score, level, factor, rule_id, reasons,
		outcome, created_at, id FROM risk_evaluations
		WHERE merchant_id = ? AND created_at >= ? AND created_at < ?
		AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`,
		kinds: "stssisssss"},
	business.ReportSettlementReconciliation: {sql: `SELECT b.settlement, o.status, o.created_at, b.id, b.type, b.source,
		b.created_at, b.available_on, b.currency, b.amount, b.fee, b.net, b.ledger_leaf, b.settlement
		FROM balance_transactions b JOIN payouts o ON o.id = b.settlement
		WHERE b.merchant_id = ? AND o.created_at >= ? AND o.created_at < ? AND b.ledger_leaf < ? AND b.source <> b.settlement
		AND b.ledger_leaf >= ? AND (b.ledger_leaf > ? OR (b.ledger_leaf = ? AND b.settlement > ?)) ORDER BY b.ledger_leaf, b.settlement LIMIT ?`,
		kinds: "sstsssttsiii", leaf: true},
}

// EachRow pages through a listing report's rows by keyset (no
// transaction held open, memory bounded by the page).
func (s *Business) EachRow(ctx context.Context, q business.RowQuery, fn func([]any) error) error {
	rq, ok := reportQueries[q.Type]
	if !ok {
		return fmt.Errorf("report type %q has no rows query", q.Type)
	}
	var keyInt int64 = -1 << 62
	keyText := ""
	for {
		// One lower bound on the keyset column (the later of the
		// interval's start and the last row's key), so the index range
		// starts at the last row: each page costs its own rows only.
		args := []any{q.MerchantID, max(micros(q.Start), keyInt), micros(q.End)}
		if rq.leaf {
			args = []any{q.MerchantID, micros(q.Start), micros(q.End), q.BelowLeaf, keyInt}
		}
		args = append(args, keyInt, keyInt, keyText, q.Limit)
		n, err := s.reportPage(ctx, rq, args, q.Limit, fn, &keyInt, &keyText)
		if err != nil {
			return err
		}
		if n < q.Limit {
			return nil
		}
	}
}

func (s *Business) reportPage(ctx context.Context, rq reportQuery, args []any, limit int, fn func([]any) error,
	keyInt *int64, keyText *string) (int, error) {
	rows, err := s.db.QueryContext(ctx, rq.sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return 0, err
	}
	width := len(cols) - 2
	raw := make([]any, len(cols))
	vals := make([]sql.NullString, len(cols))
	for i := range raw {
		raw[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(raw...); err != nil {
			return n, err
		}
		cells := make([]any, width)
		for i := 0; i < width; i++ {
			c, err := cell(vals[i].String, rq.kinds[i])
			if err != nil {
				return n, err
			}
			cells[i] = c
		}
		if _, err := fmt.Sscan(vals[width].String, keyInt); err != nil {
			return n, fmt.Errorf("report keyset: %w", err)
		}
		*keyText = vals[width+1].String
		if err := fn(cells); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// cell converts a column read as text to the report's cell type.
func cell(v string, kind byte) (any, error) {
	switch kind {
	case 'i':
		return strconv.ParseInt(v, 10, 64)
	case 't':
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, err
		}
		return timeOrZero(us), nil
	}
	return v, nil
}
