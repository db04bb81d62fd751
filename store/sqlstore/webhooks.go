package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/webhook"
)

// Webhooks implements webhook.Store: endpoints, the event outbox and
// deliveries.
type Webhooks struct {
	db  *DB
	ids id.Generator
}

// NewWebhooks returns the webhook store over db.
func NewWebhooks(db *DB) *Webhooks { return &Webhooks{db: db} }

var _ webhook.Store = (*Webhooks)(nil)

// AppendEvent writes ev to the outbox inside the caller's transaction,
// with one pending delivery, due at once, per enabled endpoint of the
// merchant subscribed to its type. Call it from the transaction of the
// change the event reports: if that transaction rolls back, no event and
// no delivery remain.
func (s *Webhooks) AppendEvent(ctx context.Context, tx *Tx, ev webhook.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (id, merchant_id, type, created_at, data)
		VALUES (?, ?, ?, ?, ?)`, ev.ID, ev.MerchantID, ev.Type, micros(ev.Created), string(ev.Data))
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	eps, err := s.enabledEndpoints(ctx, tx, ev.MerchantID)
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if webhook.Subscribed(ep.Events, ev.Type) {
			if _, err := s.insertDelivery(ctx, tx, ev, ep.ID, ev.Created); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Webhooks) enabledEndpoints(ctx context.Context, tx *Tx, merchantID string) ([]webhook.Endpoint, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = ? AND status = 'enabled' ORDER BY created_at, id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("select endpoints: %w", err)
	}
	defer rows.Close()
	var eps []webhook.Endpoint
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, rows.Err()
}

func (s *Webhooks) insertDelivery(ctx context.Context, tx *Tx, ev webhook.Event, endpointID string, due time.Time) (webhook.Delivery, error) {
	d := webhook.Delivery{
		ID: s.ids.New("whd"), EventID: ev.ID, EventType: ev.Type, EndpointID: endpointID, MerchantID: ev.MerchantID,
		Status: webhook.DeliveryPending, Created: due, NextAttempt: &due,
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
		(id, event_id, endpoint_id, merchant_id, status, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?)`, d.ID, ev.ID, endpointID, ev.MerchantID, micros(due), micros(due))
	if err != nil {
		return d, fmt.Errorf("insert delivery: %w", err)
	}
	return d, nil
}

func (s *Webhooks) Publish(ctx context.Context, ev webhook.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error { return s.AppendEvent(ctx, tx, ev) })
}

const endpointColumns = `id, merchant_id, url, description, events, status, created_at, disabled_at`

func scanEndpoint(row interface{ Scan(...any) error }) (webhook.Endpoint, error) {
	var ep webhook.Endpoint
	var events string
	var created int64
	var disabled sql.NullInt64
	if err := row.Scan(&ep.ID, &ep.MerchantID, &ep.URL, &ep.Description, &events, &ep.Status, &created, &disabled); err != nil {
		return ep, err
	}
	if err := json.Unmarshal([]byte(events), &ep.Events); err != nil {
		return ep, fmt.Errorf("endpoint %s events: %w", ep.ID, err)
	}
	ep.Created = fromMicros(created)
	ep.DisabledAt = fromNullMicros(disabled)
	return ep, nil
}

func (s *Webhooks) CreateEndpoint(ctx context.Context, ep webhook.Endpoint, secret webhook.Secret, endpointsMax int) error {
	events, err := json.Marshal(ep.Events)
	if err != nil {
		return err
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		// Lock the merchant so that concurrent creations count one
		// another (SQLite's single writer does this by itself).
		if s.db.Dialect() == Postgres {
			var mid string
			err := tx.QueryRowContext(ctx, `SELECT id FROM merchants WHERE id = ? FOR UPDATE`, ep.MerchantID).Scan(&mid)
			if err != nil {
				return fmt.Errorf("lock merchant: %w", err)
			}
		}
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE merchant_id = ?`, ep.MerchantID).Scan(&n)
		if err != nil {
			return fmt.Errorf("count endpoints: %w", err)
		}
		if n >= endpointsMax {
			return kassa.Errorf(kassa.EUnprocessable, "endpoint_limit_reached",
				"a merchant may have at most %d webhook endpoints; delete one first", endpointsMax)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_endpoints
			(id, merchant_id, url, description, events, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			ep.ID, ep.MerchantID, ep.URL, ep.Description, string(events), ep.Status, micros(ep.Created))
		if err != nil {
			return fmt.Errorf("insert endpoint: %w", err)
		}
		return s.insertSecret(ctx, tx, ep.ID, secret)
	})
}

func (s *Webhooks) insertSecret(ctx context.Context, tx *Tx, endpointID string, secret webhook.Secret) error {
	if len(secret.Key) > 0 || len(secret.Sealed) == 0 {
		return errors.New("a webhook signing secret is stored sealed, never in clear")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO webhook_secrets (id, endpoint_id, secret, secret_sealed, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, s.ids.New("whsk"), endpointID, []byte{}, secret.Sealed, micros(secret.Created),
		nullMicros(secret.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert secret: %w", err)
	}
	return nil
}

func (s *Webhooks) Endpoint(ctx context.Context, merchantID, id string) (webhook.Endpoint, error) {
	ep, err := scanEndpoint(s.db.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return ep, webhook.ErrEndpointNotFound
	} else if err != nil {
		return ep, fmt.Errorf("select endpoint: %w", err)
	}
	return ep, nil
}

var errCursor = kassa.Invalid("starting_after", "cursor_invalid", "starting_after must be the id of a record of the previous page")

// cursor returns the created_at of the row a page starts after; table and
// the query around it are constants of this file.
func (s *Webhooks) cursor(ctx context.Context, query string, args ...any) (int64, error) {
	var created int64
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errCursor
	}
	return created, err
}

func (s *Webhooks) Endpoints(ctx context.Context, merchantID, after string, limit int) ([]webhook.Endpoint, bool, error) {
	q := `SELECT ` + endpointColumns + ` FROM webhook_endpoints WHERE merchant_id = ?`
	args := []any{merchantID}
	if after != "" {
		c, err := s.cursor(ctx, `SELECT created_at FROM webhook_endpoints WHERE id = ? AND merchant_id = ?`, after, merchantID)
		if err != nil {
			return nil, false, err
		}
		q += ` AND (created_at > ? OR (created_at = ? AND id > ?))`
		args = append(args, c, c, after)
	}
	q += ` ORDER BY created_at, id LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("select endpoints: %w", err)
	}
	defer rows.Close()
	var eps []webhook.Endpoint
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, false, err
		}
		eps = append(eps, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(eps) > limit {
		return eps[:limit], true, nil
	}
	return eps, false, nil
}

func (s *Webhooks) DeleteEndpoint(ctx context.Context, merchantID, id string) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ? AND merchant_id = ?`, id, merchantID)
		if err != nil {
			return fmt.Errorf("delete endpoint: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return webhook.ErrEndpointNotFound
		}
		return nil
	})
}

func (s *Webhooks) RotateSecret(ctx context.Context, merchantID, endpointID string, secret webhook.Secret, expiresAt time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		q := `SELECT id FROM webhook_endpoints WHERE id = ? AND merchant_id = ?`
		if s.db.Dialect() == Postgres {
			q += ` FOR UPDATE` // one rotation at a time per endpoint
		}
		var eid string
		err := tx.QueryRowContext(ctx, q, endpointID, merchantID).Scan(&eid)
		if errors.Is(err, sql.ErrNoRows) {
			return webhook.ErrEndpointNotFound
		} else if err != nil {
			return fmt.Errorf("select endpoint: %w", err)
		}
		var active int
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_secrets
			WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?)`, endpointID, micros(secret.Created)).Scan(&active)
		if err != nil {
			return fmt.Errorf("count secrets: %w", err)
		}
		if active >= webhook.SecretsActiveMax {
			return kassa.Errorf(kassa.EConflict, "too_many_secrets",
				"the endpoint already has %d secrets signing; wait until rotated-out ones expire", active)
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_secrets SET expires_at = ?
			WHERE endpoint_id = ? AND expires_at IS NULL`, micros(expiresAt), endpointID)
		if err != nil {
			return fmt.Errorf("expire secrets: %w", err)
		}
		// Forget secrets that no longer sign.
		_, err = tx.ExecContext(ctx, `DELETE FROM webhook_secrets WHERE endpoint_id = ? AND expires_at <= ?`,
			endpointID, micros(secret.Created))
		if err != nil {
			return fmt.Errorf("delete expired secrets: %w", err)
		}
		return s.insertSecret(ctx, tx, endpointID, secret)
	})
}

func (s *Webhooks) Event(ctx context.Context, merchantID, id string) (webhook.Event, error) {
	ev, err := scanEvent(s.db.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM webhook_events
		WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return ev, webhook.ErrEventNotFound
	} else if err != nil {
		return ev, fmt.Errorf("select event: %w", err)
	}
	return ev, nil
}

const eventColumns = `id, merchant_id, type, created_at, data`

func scanEvent(row interface{ Scan(...any) error }) (webhook.Event, error) {
	var ev webhook.Event
	var created int64
	var data string
	if err := row.Scan(&ev.ID, &ev.MerchantID, &ev.Type, &created, &data); err != nil {
		return ev, err
	}
	ev.Created = fromMicros(created)
	ev.Data = json.RawMessage(data)
	return ev, nil
}

func (s *Webhooks) Events(ctx context.Context, merchantID, typ, after string, limit int) ([]webhook.Event, bool, error) {
	q := `SELECT ` + eventColumns + ` FROM webhook_events WHERE merchant_id = ?`
	args := []any{merchantID}
	if typ != "" {
		q += ` AND type = ?`
		args = append(args, typ)
	}
	if after != "" {
		c, err := s.cursor(ctx, `SELECT created_at FROM webhook_events WHERE id = ? AND merchant_id = ?`, after, merchantID)
		if err != nil {
			return nil, false, err
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, c, c, after)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("select events: %w", err)
	}
	defer rows.Close()
	var evs []webhook.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, false, err
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(evs) > limit {
		return evs[:limit], true, nil
	}
	return evs, false, nil
}

func (s *Webhooks) Redeliver(ctx context.Context, merchantID, eventID, endpointID string, now time.Time) ([]webhook.Delivery, error) {
	var out []webhook.Delivery
	err := s.db.Transact(ctx, func(tx *Tx) error {
		out = nil
		ev, err := scanEvent(tx.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM webhook_events
			WHERE id = ? AND merchant_id = ?`, eventID, merchantID))
		if errors.Is(err, sql.ErrNoRows) {
			return webhook.ErrEventNotFound
		} else if err != nil {
			return fmt.Errorf("select event: %w", err)
		}
		var targets []string
		if endpointID != "" {
			ep, err := scanEndpoint(tx.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
				WHERE id = ? AND merchant_id = ?`, endpointID, merchantID))
			if errors.Is(err, sql.ErrNoRows) {
				return &kassa.Error{Kind: kassa.ENotFound, Code: webhook.ErrEndpointNotFound.Code,
					Message: webhook.ErrEndpointNotFound.Message, Param: "endpoint"}
			} else if err != nil {
				return fmt.Errorf("select endpoint: %w", err)
			}
			if ep.Status != webhook.StatusEnabled {
				return &kassa.Error{Kind: kassa.EConflict, Code: "webhook_endpoint_disabled", Param: "endpoint",
					Message: "the endpoint is disabled; create a new one to receive webhooks again"}
			}
			targets = []string{ep.ID}
		} else {
			eps, err := s.enabledEndpoints(ctx, tx, merchantID)
			if err != nil {
				return err
			}
			for _, ep := range eps {
				if webhook.Subscribed(ep.Events, ev.Type) {
					targets = append(targets, ep.ID)
				}
			}
		}
		for _, t := range targets {
			d, err := s.insertDelivery(ctx, tx, ev, t, now)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

const deliveryColumns = `d.id, d.event_id, ev.type, d.endpoint_id, d.merchant_id, d.status, d.attempts,
	d.response_status, d.error, d.created_at, d.first_attempt_at, d.last_attempt_at, d.next_attempt_at, d.completed_at`

func scanDelivery(row interface{ Scan(...any) error }, extra ...any) (webhook.Delivery, error) {
	var d webhook.Delivery
	var created int64
	var first, last, next, completed sql.NullInt64
	dest := append([]any{&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.MerchantID, &d.Status, &d.Attempts,
		&d.ResponseStatus, &d.Error, &created, &first, &last, &next, &completed}, extra...)
	if err := row.Scan(dest...); err != nil {
		return d, err
	}
	d.Created = fromMicros(created)
	d.FirstAttempt, d.LastAttempt = fromNullMicros(first), fromNullMicros(last)
	d.NextAttempt, d.Completed = fromNullMicros(next), fromNullMicros(completed)
	return d, nil
}

func (s *Webhooks) Deliveries(ctx context.Context, merchantID, endpointID, after string, limit int) ([]webhook.Delivery, bool, error) {
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.endpoint_id = ? AND d.merchant_id = ?`
	args := []any{endpointID, merchantID}
	if after != "" {
		c, err := s.cursor(ctx, `SELECT created_at FROM webhook_deliveries WHERE id = ? AND endpoint_id = ? AND merchant_id = ?`,
			after, endpointID, merchantID)
		if err != nil {
			return nil, false, err
		}
		q += ` AND (d.created_at < ? OR (d.created_at = ? AND d.id < ?))`
		args = append(args, c, c, after)
	}
	q += ` ORDER BY d.created_at DESC, d.id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("select deliveries: %w", err)
	}
	defer rows.Close()
	var ds []webhook.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, false, err
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(ds) > limit {
		return ds[:limit], true, nil
	}
	return ds, false, nil
}

// Backlog counts the due deliveries to enabled endpoints (at most limit,
// oldest first, through the webhook_deliveries_due index).
func (s *Webhooks) Backlog(ctx context.Context, now time.Time, limit int) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), min(next_attempt_at) FROM (
			SELECT d.next_attempt_at FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND e.status = 'enabled'
			ORDER BY d.next_attempt_at LIMIT ?) due`, micros(now), limit).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count due deliveries: %w", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMicros(oldest.Int64), nil
}

// Claim leases due deliveries with conditional updates: a row is leased
// only if its lease is still free or over when the update runs, so two
// workers never both win it (no advisory locks, no LISTEN/NOTIFY).
func (s *Webhooks) Claim(ctx context.Context, now, leaseUntil time.Time, owner string, limit int) ([]webhook.Job, error) {
	var jobs []webhook.Job
	err := s.db.Transact(ctx, func(tx *Tx) error {
		jobs = nil
		rows, err := tx.QueryContext(ctx, `SELECT d.id FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)
			AND e.status = 'enabled'
			ORDER BY d.next_attempt_at LIMIT ?`, micros(now), micros(now), limit)
		if err != nil {
			return fmt.Errorf("select due deliveries: %w", err)
		}
		ids, err := scanColumn[string](rows)
		if err != nil {
			return err
		}
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
				WHERE id = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?)`,
				owner, micros(leaseUntil), id, micros(now))
			if err != nil {
				return fmt.Errorf("lease delivery: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // another worker won it
			}
			job, err := s.loadJob(ctx, tx, id, now)
			if err != nil {
				return err
			}
			jobs = append(jobs, job)
		}
		return nil
	})
	return jobs, err
}

func (s *Webhooks) loadJob(ctx context.Context, tx *Tx, deliveryID string, now time.Time) (webhook.Job, error) {
	var job webhook.Job
	var evCreated, epCreated int64
	var data, events string
	var disabled sql.NullInt64
	ev, ep := &job.Event, &job.Endpoint
	d, err := scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+`,
		ev.merchant_id, ev.created_at, ev.data,
		e.merchant_id, e.url, e.description, e.events, e.status, e.created_at, e.disabled_at
		FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?`, deliveryID),
		&ev.MerchantID, &evCreated, &data,
		&ep.MerchantID, &ep.URL, &ep.Description, &events, &ep.Status, &epCreated, &disabled)
	if err != nil {
		return job, fmt.Errorf("load delivery %s: %w", deliveryID, err)
	}
	job.Delivery = d
	ev.ID, ev.Type, ev.Created, ev.Data = d.EventID, d.EventType, fromMicros(evCreated), json.RawMessage(data)
	ep.ID, ep.Created, ep.DisabledAt = d.EndpointID, fromMicros(epCreated), fromNullMicros(disabled)
	if err := json.Unmarshal([]byte(events), &ep.Events); err != nil {
		return job, fmt.Errorf("endpoint %s events: %w", ep.ID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT secret, secret_sealed, created_at, expires_at FROM webhook_secrets
		WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`,
		ep.ID, micros(now))
	if err != nil {
		return job, fmt.Errorf("select secrets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sec webhook.Secret
		var created int64
		var expires sql.NullInt64
		var clear []byte
		if err := rows.Scan(&clear, &sec.Sealed, &created, &expires); err != nil {
			return job, err
		}
		if sec.Sealed == nil {
			sec.Key = clear // stored in clear by an older Kassa; the vault's rewrap seals it
		}
		sec.Created, sec.ExpiresAt = fromMicros(created), fromNullMicros(expires)
		job.Secrets = append(job.Secrets, sec)
	}
	return job, rows.Err()
}

func (s *Webhooks) Finish(ctx context.Context, owner string, a webhook.Attempt, disable *webhook.Event) (bool, error) {
	var disabled bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		disabled = false
		var completed sql.NullInt64
		if a.Status != webhook.DeliveryPending {
			completed = sql.NullInt64{Int64: micros(a.At), Valid: true}
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,
			response_status = ?, error = ?, first_attempt_at = ?, last_attempt_at = ?, next_attempt_at = ?,
			completed_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ? AND status = 'pending'`,
			a.Status, a.ResponseStatus, a.Error, micros(a.FirstAttempt), micros(a.At), nullMicros(a.NextAttempt),
			completed, a.DeliveryID, owner)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return webhook.ErrLeaseLost
		}
		switch {
		case a.Status == webhook.DeliverySucceeded:
			_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET last_success_at = ?
				WHERE id = ? AND (last_success_at IS NULL OR last_success_at < ?)`, micros(a.At), a.EndpointID, micros(a.At))
			return err
		case a.Status == webhook.DeliveryFailed && disable != nil:
			disabled, err = s.disableEndpoint(ctx, tx, a, *disable)
			return err
		}
		return nil
	})
	return disabled, err
}

// disableEndpoint disables the endpoint if no delivery to it succeeded
// since a.FirstAttempt, fails its pending deliveries and appends ev.
func (s *Webhooks) disableEndpoint(ctx context.Context, tx *Tx, a webhook.Attempt, ev webhook.Event) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET status = 'disabled', disabled_at = ?
		WHERE id = ? AND status = 'enabled' AND (last_success_at IS NULL OR last_success_at < ?)`,
		micros(a.At), a.EndpointID, micros(a.FirstAttempt))
	if err != nil {
		return false, fmt.Errorf("disable endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'failed', error = ?, completed_at = ?,
		next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL
		WHERE endpoint_id = ? AND status = 'pending'`, "the endpoint was disabled", micros(a.At), a.EndpointID)
	if err != nil {
		return false, fmt.Errorf("fail pending deliveries: %w", err)
	}
	return true, s.AppendEvent(ctx, tx, ev)
}
