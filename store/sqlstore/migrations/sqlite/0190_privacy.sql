-- Personal data (issue 20, item 4; docs/privacy.md).
--
-- One row per erasure request. subject is a Kassa account (cus_...) or a
-- merchant's customer (<merchant id>/<customer id>). When the request is
-- made, everything Kassa holds on the subject is exported into one archive,
-- sealed with AES-256-GCM under a data key of the subject's own
-- (archive_ct), and the live rows are scrubbed; the data key is kept
-- sealed with the vault's key-encryption keys (key_sealed: vault.Envelope,
-- domain identity, bound to "<id>/privacy_key") until the anti-money-
-- laundering retention ends (shred_at). Shredding then destroys the key
-- and the archive (both NULL) and sets shredded_at. Times are unix
-- microseconds; 0 means not yet.
CREATE TABLE privacy_erasures (
	id           TEXT PRIMARY KEY,
	subject      TEXT NOT NULL UNIQUE,
	merchant_id  TEXT NOT NULL,
	customer_id  TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	requested_at INTEGER NOT NULL,
	shred_at     INTEGER NOT NULL,
	shredded_at  INTEGER NOT NULL,
	key_sealed   BLOB,
	archive_ct   BLOB
);
CREATE INDEX privacy_erasures_due ON privacy_erasures (shred_at) WHERE shredded_at = 0;
CREATE INDEX privacy_erasures_key_sealed_kek ON privacy_erasures (substr(key_sealed, 2, 4), id) WHERE key_sealed IS NOT NULL;

-- A closed Kassa account: no login, no recovery, no new sign-up can reach
-- it (its email is replaced by a tombstone when it is closed).
ALTER TABLE customers ADD COLUMN closed_at INTEGER NOT NULL DEFAULT 0;

-- The retention job truncates client IPs in risk evaluations older than
-- its period; ip_truncated_at marks the rows it did (0: not yet).
ALTER TABLE risk_evaluations ADD COLUMN ip_truncated_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX risk_evaluations_ip_due ON risk_evaluations (created_at) WHERE ip_truncated_at = 0;

-- The export and the erasure find a merchant's customer's payments, and a
-- Kassa account's payouts and stored cards (from every merchant), without
-- a scan.
CREATE INDEX payments_customer ON payments (merchant_id, customer_id) WHERE customer_id <> '';
CREATE INDEX payouts_customer_id ON payouts (customer_id);
CREATE INDEX vault_cards_customer_id ON vault_cards (customer_id);
