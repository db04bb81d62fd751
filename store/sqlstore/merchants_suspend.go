package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// SetSuspended suspends a merchant (at non-nil) or lifts its suspension.
func (s *Merchants) SetSuspended(ctx context.Context, id string, at *time.Time, reason string) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE merchants SET suspended_at = ?, suspended_reason = ? WHERE id = ?`,
			nullMicros(at), reason, id)
		if err != nil {
			return fmt.Errorf("suspend merchant: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errMerchantNotFound
		}
		return nil
	})
}
