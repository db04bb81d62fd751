-- A payer's own payments (their account page's history).
CREATE INDEX payments_payer ON payments (payer_id, created_at, id) WHERE payer_id <> '';
