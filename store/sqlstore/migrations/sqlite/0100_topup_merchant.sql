-- The platform's own merchant: payers' top-ups of their Kassa wallet and
-- their withdrawals from it belong to it (payment.TopUpMerchant). It has
-- no API keys, so no merchant's key can act on them.
INSERT INTO merchants (id, name, created_at) VALUES ('mer_kassa_topup', 'Kassa balance', 0);
