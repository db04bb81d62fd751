-- Invoices a merchant sends its own customers (invoice/invoice.go), their
-- credit notes, the merchant's invoice settings and its number sequences.
-- Money is integer minor units; times are unix microseconds (0: not yet).
-- customer and lines are JSON (at most invoice.LinesMax lines). version is
-- bumped by every change (an update names the version it read).
CREATE TABLE invoices (
	id               TEXT PRIMARY KEY,
	merchant_id      TEXT NOT NULL REFERENCES merchants (id),
	number           TEXT NOT NULL,
	status           TEXT NOT NULL,
	currency         TEXT NOT NULL,
	customer_id      TEXT NOT NULL,
	customer         TEXT NOT NULL,
	lines            TEXT NOT NULL,
	subtotal         INTEGER NOT NULL,
	tax              INTEGER NOT NULL,
	total            INTEGER NOT NULL,
	amount_paid      INTEGER NOT NULL,
	amount_credited  INTEGER NOT NULL,
	due_days         INTEGER NOT NULL,
	footer           TEXT NOT NULL,
	reverse_charge   INTEGER NOT NULL,
	locale           TEXT NOT NULL,
	page_key         TEXT NOT NULL,
	payment_id       TEXT NOT NULL,
	reminders_sent   INTEGER NOT NULL,
	next_reminder_at INTEGER NOT NULL,
	finalized_at     INTEGER NOT NULL,
	due_at           INTEGER NOT NULL,
	paid_at          INTEGER NOT NULL,
	ended_at         INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	version          INTEGER NOT NULL
);
-- Lists per merchant, newest first.
CREATE INDEX invoices_merchant ON invoices (merchant_id, created_at, id);
-- A number is given once per merchant (the sequence makes them; this is the backstop).
CREATE UNIQUE INDEX invoices_number ON invoices (merchant_id, number) WHERE number <> '';
-- The worker's look-ups: open invoices with a payment, and reminders due.
CREATE INDEX invoices_unpaid ON invoices (updated_at, id) WHERE status IN ('open', 'uncollectible') AND payment_id <> '';
CREATE INDEX invoices_reminder ON invoices (next_reminder_at) WHERE status = 'open' AND next_reminder_at > 0;

CREATE TABLE credit_notes (
	id            TEXT PRIMARY KEY,
	merchant_id   TEXT NOT NULL REFERENCES merchants (id),
	invoice_id    TEXT NOT NULL REFERENCES invoices (id),
	number        TEXT NOT NULL,
	lines         TEXT NOT NULL,
	subtotal      INTEGER NOT NULL,
	tax           INTEGER NOT NULL,
	total         INTEGER NOT NULL,
	reason        TEXT NOT NULL,
	refund        INTEGER NOT NULL,
	refund_id     TEXT NOT NULL,
	refund_status TEXT NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, created_at, id);
CREATE UNIQUE INDEX credit_notes_number ON credit_notes (merchant_id, number);

-- The merchant's invoice settings: its number prefix and its details as
-- the seller printed on every invoice.
CREATE TABLE invoice_settings (
	merchant_id    TEXT PRIMARY KEY REFERENCES merchants (id),
	number_prefix  TEXT NOT NULL,
	seller_address TEXT NOT NULL,
	seller_vat_id  TEXT NOT NULL,
	updated_at     INTEGER NOT NULL
);

-- Gapless sequences: one row per merchant and name ("invoice:2026",
-- "credit_note:2026"). A number is taken by incrementing last_value in
-- the transaction that writes the document, so a number is used exactly
-- when that transaction commits.
CREATE TABLE invoice_sequences (
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	name        TEXT NOT NULL,
	last_value  INTEGER NOT NULL,
	PRIMARY KEY (merchant_id, name)
);
