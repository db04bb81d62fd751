-- A payer account's login email is sealed under the account's own key
-- (docs/privacy.md); look-ups and uniqueness use its blind index
-- (HMAC-SHA256 of the lower-case address under the platform's index key).
-- '' for a row from before sealing (looked up by the clear email until
-- the privacy job seals it) and for a closed account (its address is free
-- for a new account).
ALTER TABLE customers ADD COLUMN email_index TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX customers_email_index ON customers (email_index) WHERE email_index <> '';
