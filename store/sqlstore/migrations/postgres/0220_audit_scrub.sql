-- Erasure scrubs an erased person's strings out of the audit log; see the
-- SQLite file. UPDATE is checked row by row; DELETE and TRUNCATE stay
-- refused by statement.
ALTER TABLE audit_events ADD COLUMN scrubbed_at BIGINT NOT NULL DEFAULT 0;
DROP TRIGGER audit_events_no_change ON audit_events;
CREATE TRIGGER audit_events_no_change BEFORE DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
CREATE FUNCTION audit_events_scrub_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scrubbed_at <> 0 AND NEW.scrubbed_at >= OLD.scrubbed_at
        AND NEW.id = OLD.id AND NEW.org = OLD.org AND NEW.actor_type = OLD.actor_type AND NEW.actor_id = OLD.actor_id
        AND NEW.actor_name = OLD.actor_name AND NEW.actor_role = OLD.actor_role AND NEW.ip = OLD.ip
        AND NEW.user_agent = OLD.user_agent AND NEW.action = OLD.action AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_scrub_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_scrub_only();
