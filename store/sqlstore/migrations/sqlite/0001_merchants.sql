-- Merchants and their API keys. Times are unix microseconds (UTC).
CREATE TABLE merchants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

-- A key is stored only as the SHA-256 of its secret part; the lookup id is
-- the non-secret part embedded in the key string.
CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	kind        TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
	hash        BLOB NOT NULL,
	hint        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER,
	revoked_at  INTEGER
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id, created_at);
