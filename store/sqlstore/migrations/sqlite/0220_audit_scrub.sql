-- Erasure scrubs an erased person's strings (email, phone, IBAN, full
-- name) out of the audit log's target and before/after (issue 20 item
-- 4). The log stays append-only otherwise: an UPDATE must set
-- scrubbed_at (never back) and leave who did what, where and when as it
-- was; DELETE stays refused.
ALTER TABLE audit_events ADD COLUMN scrubbed_at INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (NEW.scrubbed_at <> 0 AND NEW.scrubbed_at >= OLD.scrubbed_at
    AND NEW.id = OLD.id AND NEW.org = OLD.org AND NEW.actor_type = OLD.actor_type AND NEW.actor_id = OLD.actor_id
    AND NEW.actor_name = OLD.actor_name AND NEW.actor_role = OLD.actor_role AND NEW.ip = OLD.ip
    AND NEW.user_agent = OLD.user_agent AND NEW.action = OLD.action AND NEW.created_at = OLD.created_at)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
