-- The card vault. A token's row holds the card's displayable details and
-- its envelope-encrypted PAN and CVC: each sealed with AES-256-GCM under
-- its own data key (*_ct), the data key wrapped under key-encryption key
-- version kek_version (*_key). No column ever holds a PAN or CVC in clear.
-- The CVC columns are NULL once destroyed. Times are unix microseconds.
CREATE TABLE vault_tokens (
	id             TEXT PRIMARY KEY,
	merchant_id    TEXT NOT NULL REFERENCES merchants (id),
	brand          TEXT NOT NULL,
	bin            TEXT NOT NULL,
	last4          TEXT NOT NULL,
	exp_month      INTEGER NOT NULL,
	exp_year       INTEGER NOT NULL,
	fingerprint    TEXT NOT NULL,
	name           TEXT NOT NULL,
	kek_version    INTEGER NOT NULL,
	pan_key        BLOB NOT NULL,
	pan_ct         BLOB NOT NULL,
	cvc_key        BLOB,
	cvc_ct         BLOB,
	cvc_expires_at INTEGER NOT NULL,
	used_at        INTEGER NOT NULL,
	created_at     INTEGER NOT NULL
);
CREATE INDEX vault_tokens_kek ON vault_tokens (kek_version, id);
CREATE INDEX vault_tokens_cvc_expiry ON vault_tokens (cvc_expires_at) WHERE cvc_ct IS NOT NULL;

-- Stored cards: a used token attached to a customer. The PAN stays in the
-- token's row.
CREATE TABLE vault_cards (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	customer_id TEXT NOT NULL,
	token_id    TEXT NOT NULL UNIQUE REFERENCES vault_tokens (id),
	created_at  INTEGER NOT NULL
);
CREATE INDEX vault_cards_customer ON vault_cards (merchant_id, customer_id);
