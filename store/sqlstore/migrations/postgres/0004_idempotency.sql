-- Idempotency-Key requests, remembered for 24 hours per merchant.
CREATE TABLE idempotency_keys (
	merchant_id  TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash BYTEA NOT NULL,
	done         BIGINT NOT NULL,
	status       BIGINT NOT NULL,
	content_type TEXT NOT NULL,
	body         BYTEA NOT NULL,
	locked_until BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
