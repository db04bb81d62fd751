-- The ledger (package ledger): accounts, immutable transfers keyed by their
-- position in the Merkle log, pending transfer states, the log's hash
-- tiles and signed checkpoints. Times are unix nanoseconds (UTC).

-- One row every commit updates: writers serialize on it and learn whether
-- another process committed since their last batch.
CREATE TABLE ledger_head (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	size   BIGINT NOT NULL,
	ts     BIGINT NOT NULL,
	writer TEXT NOT NULL
);
INSERT INTO ledger_head (id, size, ts, writer) VALUES (1, 0, 0, '');

-- An account's leaf (the position of its creation in the log) is its
-- compact key: transfers refer to their accounts by it.
CREATE TABLE ledger_accounts (
	leaf            BIGINT PRIMARY KEY,
	owner           TEXT NOT NULL,
	id              TEXT NOT NULL,
	currency        TEXT NOT NULL,
	code            BIGINT NOT NULL,
	flags           BIGINT NOT NULL,
	metadata        BYTEA,
	debits_pending  BIGINT NOT NULL,
	debits_posted   BIGINT NOT NULL,
	credits_pending BIGINT NOT NULL,
	credits_posted  BIGINT NOT NULL,
	ts              BIGINT NOT NULL
);
CREATE UNIQUE INDEX ledger_accounts_id ON ledger_accounts (owner, id);

-- A transfer is stored as its leaf encoding (package ledger, leaf.go:
-- exactly the bytes the Merkle log hashes), with the columns it is looked
-- up by beside it: (owner, id) for idempotency and the leaves of its two
-- accounts for an account's history. Narrow integer index keys keep the
-- pages a batch dirties few; readers decode data and check it against the
-- key columns.
CREATE TABLE ledger_transfers (
	leaf        BIGINT PRIMARY KEY,
	owner       TEXT NOT NULL,
	id          TEXT NOT NULL,
	debit_leaf  BIGINT NOT NULL,
	credit_leaf BIGINT NOT NULL,
	data        BYTEA NOT NULL
);
CREATE UNIQUE INDEX ledger_transfers_id ON ledger_transfers (owner, id);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_leaf, leaf);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_leaf, leaf);

-- state: 1 pending, 2 posted, 3 voided, 4 expired. expires_at 0: never.
CREATE TABLE ledger_pending (
	owner             TEXT NOT NULL,
	id                TEXT NOT NULL,
	leaf              BIGINT NOT NULL,
	debit_account_id  TEXT NOT NULL,
	credit_account_id TEXT NOT NULL,
	currency          TEXT NOT NULL,
	code              BIGINT NOT NULL,
	amount            BIGINT NOT NULL,
	amount_posted     BIGINT NOT NULL,
	state             BIGINT NOT NULL,
	expires_at        BIGINT NOT NULL,
	PRIMARY KEY (owner, id)
);
CREATE INDEX ledger_pending_expiry ON ledger_pending (expires_at, leaf) WHERE state = 1 AND expires_at > 0;

-- Hash tiles of height 8 (golang.org/x/mod/sumdb/tlog); a partial tile is
-- replaced by a wider one as the log grows.
CREATE TABLE ledger_tiles (
	level BIGINT NOT NULL,
	n     BIGINT NOT NULL,
	data  BYTEA NOT NULL,
	PRIMARY KEY (level, n)
);

CREATE TABLE ledger_checkpoints (
	size BIGINT PRIMARY KEY,
	hash BYTEA NOT NULL,
	note BYTEA NOT NULL
);
