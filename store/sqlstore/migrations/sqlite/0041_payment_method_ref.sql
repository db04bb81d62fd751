-- The instrument a payment method other than vouchers and cards keeps on
-- the payment (payment.Payment.MethodRef): its own reference, such as a
-- wallet account or an instalment plan; '' for vouchers and cards, which
-- have columns of their own.
ALTER TABLE payments ADD COLUMN method_ref TEXT NOT NULL DEFAULT '';
