-- The 3-D Secure outcome of a card payment's challenge at the issuer,
-- recorded as for the risk step-up (risk_trans_status, risk_eci): Y and
-- 05 authenticated, N and 07 not, U not completed; '' when the card
-- needed no challenge.
ALTER TABLE payments ADD COLUMN card_trans_status TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN card_eci TEXT NOT NULL DEFAULT '';
