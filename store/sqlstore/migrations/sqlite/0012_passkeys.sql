-- WebAuthn passkeys (identity/passkey). Only public data is stored: the
-- credential's public key, its id, counters and flags, and the raw
-- attestation it was registered with; the private key and the biometric
-- never leave the payer's device. customer_id is a customer's id (cus_...),
-- deliberately without a foreign key: the customers table belongs to
-- package identity. Times are unix microseconds; 0 means never.

-- One row per customer who registered a passkey. Registering a passkey
-- locks it first, so that concurrent registrations of one customer cannot
-- exceed the per-customer limit.
CREATE TABLE passkey_users (
	customer_id TEXT PRIMARY KEY,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

-- Registered passkeys. credential_id is the authenticator's id, unique per
-- relying party id; booleans are 0 or 1; discoverable is NULL when the
-- browser did not report it (credProps); transports are comma-separated.
CREATE TABLE passkey_credentials (
	id                 TEXT PRIMARY KEY,
	customer_id        TEXT NOT NULL,
	rp_id              TEXT NOT NULL,
	credential_id      BLOB NOT NULL,
	name               TEXT NOT NULL,
	public_key         BLOB NOT NULL,
	public_key_alg     INTEGER NOT NULL,
	aaguid             BLOB NOT NULL,
	sign_count         INTEGER NOT NULL CHECK (sign_count >= 0),
	transports         TEXT NOT NULL,
	attachment         TEXT NOT NULL,
	user_verified      INTEGER NOT NULL,
	backup_eligible    INTEGER NOT NULL,
	backup_state       INTEGER NOT NULL,
	discoverable       INTEGER,
	attestation_format TEXT NOT NULL,
	attestation_type   TEXT NOT NULL,
	attestation_object BLOB NOT NULL,
	client_data_json   BLOB NOT NULL,
	created_at         INTEGER NOT NULL,
	last_used_at       INTEGER NOT NULL,
	clone_suspected_at INTEGER NOT NULL,
	UNIQUE (rp_id, credential_id)
);
CREATE INDEX passkey_credentials_customer ON passkey_credentials (customer_id, created_at, id);

-- Begun ceremonies, deleted when finished (so each is finished at most
-- once) and pruned after they expire. session is the WebAuthn library's
-- session data (challenge, allowed credentials, requirements) as JSON.
-- customer_id is '' for a discoverable login.
CREATE TABLE passkey_ceremonies (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL CHECK (kind IN ('registration', 'login')),
	customer_id TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	subject     TEXT NOT NULL,
	session     BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);
