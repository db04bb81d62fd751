package sqlstore

import (
	"context"
	"fmt"

	"github.com/kassa/kassa/console"
)

// UpdateOrgMember locks every member row of org (SQLite: the IMMEDIATE
// transaction excludes other writers; PostgreSQL: FOR UPDATE), lets fn
// change member id seeing them all, and writes it back.
func (s *Console) UpdateOrgMember(ctx context.Context, org, id string, fn func(*console.Member, []console.Member) error) (console.Member, error) {
	var m console.Member
	err := s.db.Transact(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+memberColumns+` FROM console_members WHERE org = ?
			ORDER BY created_at, id LIMIT ?`+s.forUpdate(), org, console.MembersMax)
		if err != nil {
			return fmt.Errorf("select members: %w", err)
		}
		var all []console.Member
		for rows.Next() {
			x, err := scanMember(rows)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		found := false
		for _, x := range all {
			if x.ID == id {
				m, found = x, true
			}
		}
		if !found {
			return console.ErrMemberNotFound
		}
		if err := fn(&m, all); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE console_members SET org = ?, email = ?, role = ?, status = ?, password_hash = ?,
			totp_secret_sealed = ?, totp_pending_sealed = ?, totp_last_step = ?, invite_hash = ?, invite_expires_at = ?,
			failures = ?, fail_window_at = ?, reserved = ?, reserved_until = ?, locked_until = ?, created_at = ?,
			updated_at = ? WHERE id = ?`, append(memberArgs(m), id)...)
		if err != nil {
			return fmt.Errorf("update member: %w", err)
		}
		return nil
	})
	return m, err
}
