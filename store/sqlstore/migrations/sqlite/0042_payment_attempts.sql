-- How many times the payer's instrument was tried on the payment
-- (payment.Payment.Attempts): a declined card, vouchers that do not
-- cover the amount, and the attempt that paid each count one. A payment
-- fails at the decline that reaches the server's attempt limit.
ALTER TABLE payments ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
