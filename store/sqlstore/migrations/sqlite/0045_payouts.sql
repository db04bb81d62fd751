-- Payouts (payout/payout.go): one row per money-out. Money is integer
-- minor units; times are unix microseconds (0: not yet). version is bumped
-- by every change (a transition names the version it read). The
-- customer's date of birth is checked when the payout is made and not
-- stored (the check's outcome is, in checks). checks is the JSON array
-- of check outcomes.
CREATE TABLE payouts (
	id                  TEXT PRIMARY KEY,
	merchant_id         TEXT NOT NULL REFERENCES merchants (id),
	amount              INTEGER NOT NULL,
	currency            TEXT NOT NULL,
	status              TEXT NOT NULL,
	destination_type    TEXT NOT NULL,
	destination_payment TEXT NOT NULL,
	destination_card    TEXT NOT NULL,
	iban                TEXT NOT NULL,
	account_holder      TEXT NOT NULL,
	customer_id         TEXT NOT NULL,
	customer_email      TEXT NOT NULL,
	customer_first_name TEXT NOT NULL,
	customer_last_name  TEXT NOT NULL,
	checks              TEXT NOT NULL,
	failure_code        TEXT NOT NULL,
	failure_message     TEXT NOT NULL,
	merchant_reference  TEXT NOT NULL,
	metadata            TEXT NOT NULL,
	created_by          TEXT NOT NULL,
	reviewed_by         TEXT NOT NULL,
	request_key         TEXT NOT NULL,
	rail                TEXT NOT NULL,
	rail_attempts       INTEGER NOT NULL,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL,
	arrival_estimate    INTEGER NOT NULL,
	paid_at             INTEGER NOT NULL,
	version             INTEGER NOT NULL
);
-- Lists per merchant, newest first; by customer; limits per payer and
-- merchant sum by creation time.
CREATE INDEX payouts_merchant ON payouts (merchant_id, created_at, id);
CREATE INDEX payouts_customer ON payouts (merchant_id, customer_id, created_at);
-- Earlier payouts to a bank account (risk: changed and shared destinations).
CREATE INDEX payouts_iban ON payouts (merchant_id, iban) WHERE iban <> '';
-- What was paid back to a deposit (the closed loop).
CREATE INDEX payouts_payment ON payouts (merchant_id, destination_payment) WHERE destination_payment <> '';
-- The worker's look-up of payouts with a step to take.
CREATE INDEX payouts_due ON payouts (status, updated_at) WHERE status IN ('pending', 'in_transit', 'paid');
