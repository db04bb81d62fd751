package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kassa/kassa/audit"
)

// Audit implements audit.Store.
type Audit struct{ db *DB }

// NewAudit returns the audit log's store over db.
func NewAudit(db *DB) *Audit { return &Audit{db: db} }

var _ audit.Store = (*Audit)(nil)

func nullJSON(b json.RawMessage) sql.NullString {
	if len(b) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

func (s *Audit) AppendAudit(ctx context.Context, e audit.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, org, actor_type, actor_id, actor_name, actor_role,
			ip, user_agent, action, target, before_json, after_json, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Org, e.Actor.Kind, e.Actor.ID, e.Actor.Name, e.Actor.Role, e.Actor.IP, e.Actor.UserAgent,
			e.Action, e.Target, nullJSON(e.Before), nullJSON(e.After), micros(e.Created))
		if err != nil {
			return fmt.Errorf("insert audit event: %w", err)
		}
		return nil
	})
}

const auditColumns = `id, org, actor_type, actor_id, actor_name, actor_role, ip, user_agent, action, target,
	before_json, after_json, created_at`

func (s *Audit) AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, bool, error) {
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE 1 = 1`
	var args []any
	if f.Org != "" {
		q += ` AND org = ?`
		args = append(args, f.Org)
	}
	if f.Action != "" {
		if f.Action[len(f.Action)-1] == '.' {
			q += ` AND substr(action, 1, ?) = ?`
			args = append(args, len(f.Action), f.Action)
		} else {
			q += ` AND action = ?`
			args = append(args, f.Action)
		}
	}
	if f.Target != "" {
		q += ` AND target = ?`
		args = append(args, f.Target)
	}
	if f.StartingAfter != "" {
		cq, cargs := `SELECT created_at FROM audit_events WHERE id = ?`, []any{f.StartingAfter}
		if f.Org != "" {
			cq += ` AND org = ?`
			cargs = append(cargs, f.Org)
		}
		var c int64
		err := s.db.QueryRowContext(ctx, cq, cargs...).Scan(&c)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, errCursor
		} else if err != nil {
			return nil, false, fmt.Errorf("select audit cursor: %w", err)
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, c, c, f.StartingAfter)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, f.Limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("select audit events: %w", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		var before, after sql.NullString
		var created int64
		if err := rows.Scan(&e.ID, &e.Org, &e.Actor.Kind, &e.Actor.ID, &e.Actor.Name, &e.Actor.Role, &e.Actor.IP,
			&e.Actor.UserAgent, &e.Action, &e.Target, &before, &after, &created); err != nil {
			return nil, false, err
		}
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		e.Created = fromMicros(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}
