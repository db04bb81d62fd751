-- Events (the outbox) and their delivery to merchants' webhook endpoints.
-- Times are unix microseconds (UTC).

-- events is a JSON array of subscribed types ("*" = all).
CREATE TABLE webhook_endpoints (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL REFERENCES merchants (id),
	url             TEXT NOT NULL,
	description     TEXT NOT NULL,
	events          TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
	created_at      INTEGER NOT NULL,
	disabled_at     INTEGER,
	last_success_at INTEGER
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, created_at, id);

-- Signing secrets. Kassa must compute HMACs with them, so the key itself
-- is kept; a rotated-out secret signs beside the new one until expires_at.
CREATE TABLE webhook_secrets (
	id          TEXT PRIMARY KEY,
	endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	secret      BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER
);
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets (endpoint_id, created_at);

-- data is kept as text, so every attempt sends the same bytes.
CREATE TABLE webhook_events (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	type        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	data        TEXT NOT NULL
);
CREATE INDEX webhook_events_merchant ON webhook_events (merchant_id, created_at, id);
CREATE INDEX webhook_events_merchant_type ON webhook_events (merchant_id, type, created_at, id);

-- One event on its way to one endpoint. A worker claims a pending delivery
-- by setting lease_owner/lease_until; another may take it over once the
-- lease has ended.
CREATE TABLE webhook_deliveries (
	id               TEXT PRIMARY KEY,
	event_id         TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
	endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	merchant_id      TEXT NOT NULL,
	status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	response_status  INTEGER NOT NULL DEFAULT 0,
	error            TEXT NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	first_attempt_at INTEGER,
	last_attempt_at  INTEGER,
	next_attempt_at  INTEGER,
	completed_at     INTEGER,
	lease_owner      TEXT,
	lease_until      INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
