-- Pay later (credit/credit.go): one row per plan, created with the capture
-- of its pay_later payment. terms is the JSON of the terms the payer
-- accepted; instalments the JSON array of its (at most three)
-- instalments, written with the plan in one row so that a collection
-- changes both under one version. next_work_at is when the collection job
-- next has work on the plan (unix microseconds; 0: none). Money is integer
-- minor units; times unix microseconds.
CREATE TABLE credit_plans (
	id           TEXT PRIMARY KEY,
	payment_id   TEXT NOT NULL UNIQUE,
	merchant_id  TEXT NOT NULL,
	customer_id  TEXT NOT NULL,
	plan         TEXT NOT NULL,
	amount       INTEGER NOT NULL,
	currency     TEXT NOT NULL,
	status       TEXT NOT NULL,
	terms        TEXT NOT NULL,
	instalments  TEXT NOT NULL,
	refunded     INTEGER NOT NULL,
	written_off  INTEGER NOT NULL,
	next_work_at INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL
);
CREATE INDEX credit_plans_customer ON credit_plans (customer_id, created_at, id);
CREATE INDEX credit_plans_work ON credit_plans (next_work_at, id);
-- The per-merchant switch of pay later (kassa merchants paylater); no row:
-- off.
CREATE TABLE credit_merchants (
	merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
	enabled     INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
