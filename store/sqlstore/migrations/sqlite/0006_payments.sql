-- Payments, the vouchers that paid them, and refunds. Money is integer
-- minor units; times are unix microseconds. version is bumped by every
-- change (optimistic concurrency: a transition names the version it read).
CREATE TABLE payments (
	id                 TEXT PRIMARY KEY,
	merchant_id        TEXT NOT NULL REFERENCES merchants (id),
	amount             INTEGER NOT NULL,
	currency           TEXT NOT NULL,
	capture_method     TEXT NOT NULL,
	status             TEXT NOT NULL,
	amount_capturable  INTEGER NOT NULL,
	amount_captured    INTEGER NOT NULL,
	amount_refunded    INTEGER NOT NULL,
	merchant_reference TEXT,
	description        TEXT NOT NULL,
	return_url         TEXT NOT NULL,
	metadata           TEXT,
	client_secret      TEXT NOT NULL,
	method_type        TEXT NOT NULL,
	failure_code       TEXT NOT NULL,
	expires_at         INTEGER NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	version            INTEGER NOT NULL
);
CREATE INDEX payments_merchant ON payments (merchant_id, created_at, id);
CREATE INDEX payments_due ON payments (status, expires_at);
-- One live payment per merchant reference: a second is refused.
CREATE UNIQUE INDEX payments_reference_live ON payments (merchant_id, merchant_reference)
	WHERE merchant_reference IS NOT NULL AND status IN ('requires_action', 'authorized', 'captured');

-- The vouchers a payment was authorized on, in the order the PINs were given.
CREATE TABLE payment_vouchers (
	payment_id TEXT NOT NULL REFERENCES payments (id),
	seq        INTEGER NOT NULL,
	serial     TEXT NOT NULL,
	amount     INTEGER NOT NULL,
	captured   INTEGER NOT NULL,
	refunded   INTEGER NOT NULL,
	PRIMARY KEY (payment_id, seq)
);

CREATE TABLE refunds (
	id          TEXT PRIMARY KEY,
	payment_id  TEXT NOT NULL REFERENCES payments (id),
	merchant_id TEXT NOT NULL,
	amount      INTEGER NOT NULL,
	currency    TEXT NOT NULL,
	reason      TEXT NOT NULL,
	status      TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);

-- Per-merchant payment settings; absent rows mean the defaults.
CREATE TABLE merchant_settings (
	merchant_id            TEXT PRIMARY KEY REFERENCES merchants (id),
	capture_window_seconds INTEGER NOT NULL
);
