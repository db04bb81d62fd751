-- Payer limits and the deposits counted against them (package
-- compliance). A subject is a Kassa account ("cus_...") or a merchant's
-- customer ("<merchant>/<customer id>").
--
-- compliance_limits: the subject's deposit limits, pending raises,
-- self-exclusion and cool-off, as JSON (compliance.Limits).
CREATE TABLE compliance_limits (
	subject     TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	data        TEXT NOT NULL,
	updated_at  INTEGER NOT NULL
);

-- compliance_subjects: one row per subject, locked by every transaction
-- that checks and counts a deposit against the subject's limits, so two
-- deposits racing for the rest of a limit take turns.
CREATE TABLE compliance_subjects (
	subject TEXT PRIMARY KEY
);

-- compliance_deposits: each gambling deposit, once per subject it counts
-- for. A deposit counts while its payment is live (requires_action,
-- authorized, captured): one that failed, expired or was canceled moved
-- no money and drops out by itself.
CREATE TABLE compliance_deposits (
	payment_id  TEXT NOT NULL,
	subject     TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	amount      INTEGER NOT NULL,
	currency    TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (payment_id, subject)
);
CREATE INDEX compliance_deposits_subject ON compliance_deposits (subject, currency, created_at);
