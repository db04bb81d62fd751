-- The development outbox keeps message bodies (they hold one-time codes)
-- sealed with the vault's keys (vault.Envelope, domain identity, bound to
-- "<message id>/body") in body_sealed; body stays empty. Messages stored
-- in clear before are deleted: they are development messages, pruned
-- within a day anyway.
DELETE FROM identity_outbox;
ALTER TABLE identity_outbox ADD COLUMN body_sealed BLOB;
