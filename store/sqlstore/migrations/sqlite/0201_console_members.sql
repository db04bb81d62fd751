-- The console's members and their sessions (issue 21 item 1). org is a
-- merchant id or 'platform'. An email address belongs to one member that
-- is not removed. Removed members stay for the audit log.
CREATE TABLE console_members (
    id                 TEXT PRIMARY KEY,
    org                TEXT NOT NULL,
    email              TEXT NOT NULL,
    role               TEXT NOT NULL,
    status             TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    totp_secret_sealed BLOB,
    totp_pending_sealed BLOB,
    totp_last_step     INTEGER NOT NULL,
    invite_hash        BLOB,
    invite_expires_at  INTEGER NOT NULL,
    failures           INTEGER NOT NULL,
    fail_window_at     INTEGER NOT NULL,
    reserved           INTEGER NOT NULL,
    reserved_until     INTEGER NOT NULL,
    locked_until       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX console_members_email ON console_members (email) WHERE status <> 'removed';
CREATE UNIQUE INDEX console_members_invite ON console_members (invite_hash);
CREATE INDEX console_members_org ON console_members (org, created_at, id);
CREATE TABLE console_sessions (
    id              TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES console_members (id),
    token_hash      BLOB NOT NULL UNIQUE,
    pending         INTEGER NOT NULL,
    ip              TEXT NOT NULL,
    user_agent      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER NOT NULL
);
CREATE INDEX console_sessions_member ON console_sessions (member_id);
