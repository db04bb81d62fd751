-- On SQLite the account → transfers index moves out of the ledger's
-- transactions into a file of its own, kept by a goroutine of its own
-- (store/sqlstore/ledger_index.go): as B-tree indexes here, every transfer
-- cost two inserts at random places in the single writer's transaction.
-- PostgreSQL keeps them (migrations/postgres/0016_ledger_account_index.sql).
DROP INDEX IF EXISTS ledger_transfers_debit;
DROP INDEX IF EXISTS ledger_transfers_credit;
