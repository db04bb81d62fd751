-- The vault's key status, rewrap and retirement find every value sealed
-- with vault.Envelope by its key-encryption key version, which is byte 2
-- to 5 of the value (big endian). These indexes let the rewrap find
-- identity's stale values without reading every customer.
CREATE INDEX customers_birth_date_kek ON customers (substr(birth_date_sealed, 2, 4), id) WHERE birth_date_sealed IS NOT NULL;
CREATE INDEX customers_document_number_kek ON customers (substr(document_number_sealed, 2, 4), id) WHERE document_number_sealed IS NOT NULL;
CREATE INDEX customers_totp_secret_kek ON customers (substr(totp_secret_sealed, 2, 4), id) WHERE totp_secret_sealed IS NOT NULL;
CREATE INDEX customers_totp_pending_kek ON customers (substr(totp_pending_sealed, 2, 4), id) WHERE totp_pending_sealed IS NOT NULL;
