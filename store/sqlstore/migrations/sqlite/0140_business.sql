-- Business accounts (package business, docs/business.md): pricing,
-- availability, balance transactions, settlements and reports. Money is
-- integer minor units; times are unix microseconds (0: none).

-- A merchant's fees per payment method and currency: percent in basis
-- points plus a fixed amount. method 'default' and currency '' match any.
CREATE TABLE merchant_pricing (
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	method      TEXT NOT NULL,
	currency    TEXT NOT NULL,
	percent_bps INTEGER NOT NULL,
	fixed       INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (merchant_id, method, currency)
);

-- A merchant's availability delay, settlement bank account and schedule.
-- schedule: manual, daily, weekly (anchor 1..7, Monday = 1), monthly
-- (anchor 1..31, clamped to the month's last day). settled_through: the
-- last scheduled day (unix microseconds of 00:00 UTC) already settled.
CREATE TABLE merchant_business (
	merchant_id      TEXT PRIMARY KEY REFERENCES merchants (id),
	delay_seconds    INTEGER NOT NULL,
	iban             TEXT NOT NULL,
	account_holder   TEXT NOT NULL,
	bank_verified_at INTEGER NOT NULL,
	schedule         TEXT NOT NULL,
	schedule_anchor  INTEGER NOT NULL,
	settled_through  INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);

-- What each capture booked beside the payment's own transfers: the fee to
-- platform revenue and the hold until available_on (written in the
-- capture's transaction; reconciliation counts them).
CREATE TABLE payment_fees (
	payment_id   TEXT PRIMARY KEY,
	merchant_id  TEXT NOT NULL,
	currency     TEXT NOT NULL,
	amount       INTEGER NOT NULL,
	fee          INTEGER NOT NULL,
	held         INTEGER NOT NULL,
	available_on INTEGER NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX payment_fees_available ON payment_fees (available_on);

-- One row per ledger movement of a merchant's balance, derived from the
-- ledger log in order (ledger_leaf: the transfer's leaf). Its id is
-- derived from the transfer's id, so it is stable. settlement: the
-- settlement (stl_) that paid it out, '' none yet.
CREATE TABLE balance_transactions (
	id           TEXT PRIMARY KEY,
	merchant_id  TEXT NOT NULL,
	type         TEXT NOT NULL,
	amount       INTEGER NOT NULL,
	fee          INTEGER NOT NULL,
	net          INTEGER NOT NULL,
	currency     TEXT NOT NULL,
	source       TEXT NOT NULL,
	available_on INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	transfer_id  TEXT NOT NULL,
	ledger_leaf  INTEGER NOT NULL,
	settlement   TEXT NOT NULL
);
CREATE INDEX balance_transactions_merchant ON balance_transactions (merchant_id, ledger_leaf);
CREATE INDEX balance_transactions_source ON balance_transactions (source, ledger_leaf);
CREATE INDEX balance_transactions_settlement ON balance_transactions (merchant_id, settlement, currency, available_on);

-- How far balance transactions were derived: every ledger leaf below
-- next_leaf is done. Advanced by compare-and-set with the rows it covers.
CREATE TABLE balance_sync (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	next_leaf INTEGER NOT NULL
);
INSERT INTO balance_sync (id, next_leaf) VALUES (1, 0);

-- Reports (rpt_): pending until the reports job writes the file in
-- chunks (report_chunks), then succeeded or failed.
CREATE TABLE reports (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL REFERENCES merchants (id),
	type            TEXT NOT NULL,
	format          TEXT NOT NULL,
	timezone        TEXT NOT NULL,
	interval_start  INTEGER NOT NULL,
	interval_end    INTEGER NOT NULL,
	status          TEXT NOT NULL,
	failure_message TEXT NOT NULL,
	tree_size       INTEGER NOT NULL,
	root_hash       TEXT NOT NULL,
	rows_count      INTEGER NOT NULL,
	size_bytes      INTEGER NOT NULL,
	sha256          TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	completed_at    INTEGER NOT NULL
);
CREATE INDEX reports_merchant ON reports (merchant_id, created_at, id);
CREATE INDEX reports_pending ON reports (status, created_at) WHERE status = 'pending';

CREATE TABLE report_chunks (
	report_id TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	data      BLOB NOT NULL,
	PRIMARY KEY (report_id, seq)
);
