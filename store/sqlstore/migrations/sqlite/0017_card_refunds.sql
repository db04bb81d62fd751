-- Card refunds are recorded before the acquirer is called (payment/refund.go):
-- a refund is 'pending' with its amount reserved (amount_refund_pending on
-- the payment, a pending ledger transfer) until the acquirer's outcome is
-- recorded ('succeeded' or 'failed').
--
-- refund_seq is the sequence of the payment's last refund; a refund's seq
-- and acquirer_key (<payment id>:refund:<seq>, the acquirer's idempotency
-- key) are fixed when it is reserved. request_key is the merchant's
-- Idempotency-Key of the request that made it, so a retry finds it.
ALTER TABLE payments ADD COLUMN amount_refund_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN refund_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN acquirer_key TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN request_key TEXT NOT NULL DEFAULT '';
-- Refunds made before this migration keep seq 0.
CREATE UNIQUE INDEX refunds_payment_seq ON refunds (payment_id, seq) WHERE seq > 0;
CREATE INDEX refunds_request_key ON refunds (merchant_id, request_key) WHERE request_key <> '';
-- The worker's look-up of refunds whose outcome is not recorded.
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';
