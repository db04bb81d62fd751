-- Leases of background jobs (issue 17, item 1): one row per job, held by
-- one node at a time. epoch is the fencing token: it grows by one each
-- time the lease changes hands, and every write a leased job makes checks
-- it in the same transaction (sqlstore.DB.Transact), so a node whose lease
-- was taken over can no longer write. Times are unix microseconds of the
-- database's clock, so the nodes' clocks need not agree.
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
);
