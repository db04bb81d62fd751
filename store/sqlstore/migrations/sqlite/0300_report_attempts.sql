-- A report whose generation fails for a reason that may pass (the
-- database, a lost lease) is tried again later, with a growing delay, and
-- failed after business.ReportAttemptsMax tries, instead of every pass
-- for ever (docs/business.md).
ALTER TABLE reports ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
