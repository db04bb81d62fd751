-- PIN lookups under way: each Resolve or Balance call reserved places
-- (one per PIN) on its payment and client IP before looking any PIN up
-- (voucher.Store.ReserveAttempt) and deletes them when it ends; places
-- lapse at expires_at, so a crash mid-call frees them.
CREATE TABLE voucher_pin_attempts (
	attempt_id TEXT NOT NULL,
	scope      TEXT NOT NULL CHECK (scope IN ('payment', 'ip', 'serial')),
	subject    TEXT NOT NULL,
	places     INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (attempt_id, scope, subject)
);
CREATE INDEX voucher_pin_attempts_key ON voucher_pin_attempts (scope, subject, expires_at);
CREATE INDEX voucher_pin_attempts_expiry ON voucher_pin_attempts (expires_at);
