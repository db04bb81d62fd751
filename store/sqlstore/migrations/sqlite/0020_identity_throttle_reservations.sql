-- Attempts under way (a password or second factor being checked): each
-- reserved its place under the failure limit before the check
-- (identity.Store.ReserveThrottles) and gives it back when it ends; the
-- places lapse at reserved_until, so a crash mid-attempt frees them.
ALTER TABLE identity_throttles ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identity_throttles ADD COLUMN reserved_until INTEGER NOT NULL DEFAULT 0;
