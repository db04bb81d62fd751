-- Idempotency-Key requests, remembered for 24 hours per merchant.
CREATE TABLE idempotency_keys (
	merchant_id  TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash BLOB NOT NULL,
	done         INTEGER NOT NULL,
	status       INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	body         BLOB NOT NULL,
	locked_until INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
