-- Prepaid vouchers. Times are unix microseconds (UTC). A voucher's balance
-- is the ledger account voucher:<serial>; these tables hold the rest.

-- Merchants allowed to issue vouchers (distributors).
CREATE TABLE voucher_distributors (
	merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
	created_at  INTEGER NOT NULL
);

-- The PIN is never stored: pin_hash is its HMAC-SHA256 under the server's
-- voucher PIN key, unique so that a PIN finds exactly one voucher.
CREATE TABLE vouchers (
	id         TEXT PRIMARY KEY,
	serial     TEXT NOT NULL UNIQUE,
	pin_hash   BLOB NOT NULL UNIQUE,
	issued_by  TEXT NOT NULL REFERENCES merchants (id),
	amount     INTEGER NOT NULL CHECK (amount > 0),
	currency   TEXT NOT NULL,
	status     TEXT NOT NULL CHECK (status IN ('active', 'locked', 'depleted', 'expired', 'invalidated')),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX vouchers_issuer ON vouchers (issued_by, created_at, id);
CREATE INDEX vouchers_expiry ON vouchers (expires_at) WHERE status IN ('active', 'locked');

-- Failed PIN attempts, one row each, counted over sliding windows per
-- payment, client IP and serial.
CREATE TABLE voucher_pin_failures (
	scope      TEXT NOT NULL CHECK (scope IN ('payment', 'ip', 'serial')),
	subject    TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX voucher_pin_failures_key ON voucher_pin_failures (scope, subject, created_at);
CREATE INDEX voucher_pin_failures_created ON voucher_pin_failures (created_at);

-- The latest lockout of each source.
CREATE TABLE voucher_lockouts (
	scope        TEXT NOT NULL CHECK (scope IN ('payment', 'ip', 'serial')),
	subject      TEXT NOT NULL,
	failures     INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	locked_until INTEGER NOT NULL,
	PRIMARY KEY (scope, subject)
);
