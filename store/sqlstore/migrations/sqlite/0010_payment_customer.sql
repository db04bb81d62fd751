-- The payer as the merchant named them at creation (optional), for risk:
-- velocity and habits per customer and email, billing country against
-- the IP's country.
ALTER TABLE payments ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN customer_email TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN billing_country TEXT NOT NULL DEFAULT '';
