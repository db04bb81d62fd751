-- The ledger (package ledger): accounts, immutable transfers keyed by their
-- position in the Merkle log, pending transfer states, the log's hash
-- tiles and signed checkpoints. Times are unix nanoseconds (UTC).

-- One row every commit updates: writers serialize on it and learn whether
-- another process committed since their last batch.
CREATE TABLE ledger_head (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	size   INTEGER NOT NULL,
	ts     INTEGER NOT NULL,
	writer TEXT NOT NULL
);
INSERT INTO ledger_head (id, size, ts, writer) VALUES (1, 0, 0, '');

CREATE TABLE ledger_accounts (
	owner           TEXT NOT NULL,
	id              TEXT NOT NULL,
	currency        TEXT NOT NULL,
	code            INTEGER NOT NULL,
	flags           INTEGER NOT NULL,
	metadata        BLOB,
	debits_pending  INTEGER NOT NULL,
	debits_posted   INTEGER NOT NULL,
	credits_pending INTEGER NOT NULL,
	credits_posted  INTEGER NOT NULL,
	ts              INTEGER NOT NULL,
	leaf            INTEGER NOT NULL UNIQUE,
	PRIMARY KEY (owner, id)
) WITHOUT ROWID;

CREATE TABLE ledger_transfers (
	leaf              INTEGER PRIMARY KEY,
	owner             TEXT NOT NULL,
	id                TEXT NOT NULL,
	debit_account_id  TEXT NOT NULL,
	credit_account_id TEXT NOT NULL,
	amount            INTEGER NOT NULL,
	currency          TEXT NOT NULL,
	code              INTEGER NOT NULL,
	flags             INTEGER NOT NULL,
	pending_id        TEXT NOT NULL,
	timeout           INTEGER NOT NULL,
	metadata          BLOB,
	ts                INTEGER NOT NULL
);
CREATE UNIQUE INDEX ledger_transfers_id ON ledger_transfers (owner, id);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (owner, debit_account_id, leaf);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (owner, credit_account_id, leaf);

-- state: 1 pending, 2 posted, 3 voided, 4 expired. expires_at 0: never.
CREATE TABLE ledger_pending (
	owner             TEXT NOT NULL,
	id                TEXT NOT NULL,
	leaf              INTEGER NOT NULL,
	debit_account_id  TEXT NOT NULL,
	credit_account_id TEXT NOT NULL,
	currency          TEXT NOT NULL,
	code              INTEGER NOT NULL,
	amount            INTEGER NOT NULL,
	amount_posted     INTEGER NOT NULL,
	state             INTEGER NOT NULL,
	expires_at        INTEGER NOT NULL,
	PRIMARY KEY (owner, id)
) WITHOUT ROWID;
CREATE INDEX ledger_pending_expiry ON ledger_pending (expires_at, leaf) WHERE state = 1 AND expires_at > 0;

-- Hash tiles of height 8 (golang.org/x/mod/sumdb/tlog); a partial tile is
-- replaced by a wider one as the log grows.
CREATE TABLE ledger_tiles (
	level INTEGER NOT NULL,
	n     INTEGER NOT NULL,
	data  BLOB NOT NULL,
	PRIMARY KEY (level, n)
);

CREATE TABLE ledger_checkpoints (
	size INTEGER PRIMARY KEY,
	hash BLOB NOT NULL,
	note BLOB NOT NULL
);
