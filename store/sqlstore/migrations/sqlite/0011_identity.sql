-- Payer accounts (customers, distinct from merchants) and their
-- authentication. Times are unix microseconds; 0 means never. No column
-- holds a password, one-time code, recovery code or token in clear:
-- passwords are argon2id PHC strings, codes keyed hashes (HMAC-SHA256),
-- session and sign-up tokens SHA-256. The birth date, the ID document
-- number and TOTP secrets are sealed (*_sealed: AES-256-GCM envelopes
-- whose data keys are wrapped by the vault's key-encryption keys).
CREATE TABLE customers (
	id                     TEXT PRIMARY KEY,
	email                  TEXT NOT NULL UNIQUE,
	email_verified_at      INTEGER NOT NULL,
	phone                  TEXT NOT NULL,
	phone_verified_at      INTEGER NOT NULL,
	password_hash          TEXT NOT NULL,
	password_changed_at    INTEGER NOT NULL,
	level                  TEXT NOT NULL CHECK (level IN ('unverified', 'verified', 'kyc_verified')),
	given_name             TEXT NOT NULL,
	family_name            TEXT NOT NULL,
	address_line1          TEXT NOT NULL,
	address_line2          TEXT NOT NULL,
	address_city           TEXT NOT NULL,
	address_postal_code    TEXT NOT NULL,
	address_region         TEXT NOT NULL,
	address_country        TEXT NOT NULL,
	document_type          TEXT NOT NULL,
	document_country       TEXT NOT NULL,
	birth_date_sealed      BLOB,
	document_number_sealed BLOB,
	kyc_submitted_at       INTEGER NOT NULL,
	kyc_verified_at        INTEGER NOT NULL,
	totp_secret_sealed     BLOB,
	totp_pending_sealed    BLOB,
	totp_enabled_at        INTEGER NOT NULL,
	totp_last_step         INTEGER NOT NULL,
	created_at             INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL
);

-- Sign-ups in progress. existing = 1: the address had an account; the
-- sign-up looks like any other but can never be confirmed.
CREATE TABLE identity_signups (
	id                 TEXT PRIMARY KEY,
	token_hash         BLOB NOT NULL UNIQUE,
	email              TEXT NOT NULL,
	phone              TEXT NOT NULL,
	existing           INTEGER NOT NULL,
	customer_id        TEXT NOT NULL,
	email_confirmed_at INTEGER NOT NULL,
	phone_confirmed_at INTEGER NOT NULL,
	created_at         INTEGER NOT NULL,
	expires_at         INTEGER NOT NULL,
	completed_at       INTEGER NOT NULL
);
CREATE INDEX identity_signups_expiry ON identity_signups (expires_at);

-- One-time codes, bound to an owner (customer or sign-up), a purpose and
-- a subject. A live code has used_at = 0 and fewer attempts than the limit;
-- a newer code of the same owner and purpose sets used_at of the older.
CREATE TABLE identity_codes (
	id          TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	purpose     TEXT NOT NULL CHECK (purpose IN ('confirm_email', 'confirm_phone', 'login', 'step_up')),
	subject     TEXT NOT NULL,
	channel     TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
	destination TEXT NOT NULL,
	code_hash   BLOB NOT NULL,
	attempts    INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER NOT NULL
);
CREATE INDEX identity_codes_live ON identity_codes (owner, purpose, created_at) WHERE used_at = 0;
CREATE INDEX identity_codes_expiry ON identity_codes (expires_at);

-- Sliding-window rate limits (messages per destination, sign-ups per IP):
-- the latest event times of a key, comma-separated, oldest first.
CREATE TABLE identity_rates (
	rate_key   TEXT PRIMARY KEY,
	times      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX identity_rates_updated ON identity_rates (updated_at);

-- Failed-attempt counters and lockouts per account, customer (second
-- factors) and client IP.
CREATE TABLE identity_throttles (
	scope         TEXT NOT NULL CHECK (scope IN ('account', 'factor', 'ip')),
	subject       TEXT NOT NULL,
	failures      INTEGER NOT NULL,
	window_start  INTEGER NOT NULL,
	blocked_until INTEGER NOT NULL,
	lockouts      INTEGER NOT NULL,
	locked_at     INTEGER NOT NULL,
	locked_until  INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (scope, subject)
);
CREATE INDEX identity_throttles_updated ON identity_throttles (updated_at);

CREATE TABLE identity_sessions (
	id               TEXT PRIMARY KEY,
	customer_id      TEXT NOT NULL REFERENCES customers (id),
	token_hash       BLOB NOT NULL UNIQUE,
	aal              INTEGER NOT NULL CHECK (aal IN (1, 2)),
	pending          INTEGER NOT NULL,
	device_id        TEXT NOT NULL,
	ip               TEXT NOT NULL,
	user_agent       TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	last_seen_at     INTEGER NOT NULL,
	idle_expires_at  INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	second_factor_at INTEGER NOT NULL,
	rotated_at       INTEGER NOT NULL,
	revoked_at       INTEGER NOT NULL
);
CREATE INDEX identity_sessions_customer ON identity_sessions (customer_id, created_at);
CREATE INDEX identity_sessions_expiry ON identity_sessions (expires_at);

CREATE TABLE identity_devices (
	id               TEXT PRIMARY KEY,
	customer_id      TEXT NOT NULL REFERENCES customers (id),
	fingerprint_hash BLOB,
	user_agent       TEXT NOT NULL,
	ip               TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	last_seen_at     INTEGER NOT NULL,
	revoked_at       INTEGER NOT NULL
);
CREATE INDEX identity_devices_customer ON identity_devices (customer_id, last_seen_at);

CREATE TABLE identity_recovery_codes (
	customer_id TEXT NOT NULL REFERENCES customers (id),
	code_hash   BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	used_at     INTEGER NOT NULL,
	PRIMARY KEY (customer_id, code_hash)
);

-- The development outbox: messages kept instead of sent (codes in clear;
-- never used in production), pruned after the retention.
CREATE TABLE identity_outbox (
	id         TEXT PRIMARY KEY,
	channel    TEXT NOT NULL,
	recipient  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX identity_outbox_created ON identity_outbox (created_at);
CREATE INDEX identity_outbox_recipient ON identity_outbox (recipient, created_at);
