-- The payer's Kassa account (identity), when the payer was logged in on
-- the hosted page or passed the step-up challenge with it.
ALTER TABLE payments ADD COLUMN payer_id TEXT NOT NULL DEFAULT '';
