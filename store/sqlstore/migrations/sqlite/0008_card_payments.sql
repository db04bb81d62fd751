-- Card payments: the vault reference of the card (tok_... or card_...)
-- and its public details — never the PAN — and the acquirer's side: the
-- authorization id, the state of an authorization in flight
-- ('authorizing', 'unknown' after a timeout, 'challenge' for 3-D Secure)
-- with the idempotency key it was sent under, and the challenge id.
ALTER TABLE payments ADD COLUMN card_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN card_brand TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN card_last4 TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN card_exp_month INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN card_exp_year INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN card_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN acquirer_auth_id TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN acquirer_state TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN acquirer_key TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN challenge_id TEXT NOT NULL DEFAULT '';
-- The worker's look-up of authorizations whose outcome is not recorded.
CREATE INDEX payments_acquirer_pending ON payments (acquirer_state) WHERE acquirer_state IN ('authorizing', 'unknown');
