-- A payout split over a payer's deposits (destination original_method
-- without a payment): every leg is a payout of its own whose split_of
-- names the first leg (the id the request answered); '' for others.
ALTER TABLE payouts ADD COLUMN split_of TEXT NOT NULL DEFAULT '';

-- The closed loop lists a payer's deposits at a merchant.
CREATE INDEX payments_merchant_customer ON payments (merchant_id, customer_id, created_at);
