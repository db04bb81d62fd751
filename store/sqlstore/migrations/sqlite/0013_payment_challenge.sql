-- The payer's step-up challenge a risk decision asked for, 3-D Secure
-- style: its state ('' none, 'pending', 'passed', 'failed', 'abandoned'),
-- the transStatus-like outcome (Y, N, A, R, U) and an ECI-like indicator.
ALTER TABLE payments ADD COLUMN risk_challenge TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_trans_status TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_eci TEXT NOT NULL DEFAULT '';
