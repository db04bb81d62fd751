-- Webhook signing secrets are kept sealed with the vault's keys
-- (vault.Envelope, domain webhook, bound to "<endpoint id>/secret") in
-- secret_sealed; secret is left empty for them. Secrets an older Kassa
-- stored in clear stay in secret (secret_sealed NULL) and still sign until
-- the vault's rewrap seals them: kassa serve does it at start and every
-- 30 seconds, kassa keys rewrap at once.
ALTER TABLE webhook_secrets ADD COLUMN secret_sealed BLOB;
