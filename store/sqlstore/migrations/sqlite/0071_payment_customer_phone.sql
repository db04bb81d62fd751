-- The payer's mobile number as the merchant named it (E.164): where the
-- risk step-up's one-time code can go when the payer has no Kassa account.
ALTER TABLE payments ADD COLUMN customer_phone TEXT NOT NULL DEFAULT '';
