-- The audit log (issue 21 item 1, issue 20 item 5): what members of a
-- merchant's team and the platform operator did, append-only. org is a
-- merchant id or 'platform'. before_json and after_json hold the changed
-- fields (never secrets). The triggers refuse every change and removal.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org, created_at, id);
CREATE INDEX audit_events_created ON audit_events (created_at, id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
