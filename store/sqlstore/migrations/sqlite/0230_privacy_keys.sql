-- Personal data sealed per subject while it is live (issue 20, item 4;
-- docs/privacy.md, package privacy/seal).
--
-- One row per subject: a Kassa account (cus_...), a merchant's customer
-- (<merchant id>/<customer id>) or a payment that names no customer (its
-- own id). key_wrapped is the subject's random 256-bit data key, sealed
-- (vault.Envelope, domain identity, bound to "privacy/subject_key/<id>")
-- under a key-encryption key of the privacy key file (privacy-kek.json),
-- which kassa backup does not copy and which the privacy job rotates
-- after each shredding, so that a backup made before cannot open its
-- keys. shred_at (unix microseconds; 0: not scheduled) is set
-- by an erasure request to the end of the anti-money-laundering
-- retention; the privacy job then deletes the row, and every copy of the
-- subject's sealed fields (backups, replicas, WAL, old row versions)
-- stops opening.
CREATE TABLE privacy_keys (
	id         TEXT PRIMARY KEY,
	key_wrapped BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	shred_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX privacy_keys_due ON privacy_keys (shred_at) WHERE shred_at > 0;
CREATE INDEX privacy_keys_kek ON privacy_keys (substr(key_wrapped, 2, 4), id);

-- Which subject's key seals a row's personal columns ('' : the row is
-- from before sealing, its columns are clear until the backfill seals
-- them).
ALTER TABLE payments ADD COLUMN seal_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE payouts ADD COLUMN seal_subject TEXT NOT NULL DEFAULT '';

-- A payout's IBAN is sealed; look-ups by IBAN (the checks of a new
-- destination) use its blind index (HMAC-SHA256 under the platform's
-- index key).
ALTER TABLE payouts ADD COLUMN iban_index TEXT NOT NULL DEFAULT '';
CREATE INDEX payouts_iban_index ON payouts (merchant_id, iban_index) WHERE iban_index <> '';

-- The backfill walks the rows still in clear.
CREATE INDEX payments_unsealed ON payments (id) WHERE seal_subject = '';
CREATE INDEX payouts_unsealed ON payouts (id) WHERE seal_subject = '';
