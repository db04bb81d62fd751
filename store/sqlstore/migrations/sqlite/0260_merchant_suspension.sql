-- A merchant the operator suspended: its API keys are refused
-- (merchant_suspended), its checkout pages tell the payer, its payouts
-- are refused; the money it holds stays. NULL: not suspended.
ALTER TABLE merchants ADD COLUMN suspended_at INTEGER NULL;
ALTER TABLE merchants ADD COLUMN suspended_reason TEXT NOT NULL DEFAULT '';
