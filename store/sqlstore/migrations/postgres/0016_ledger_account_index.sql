-- PostgreSQL keeps the ledger's account → transfers indexes
-- (ledger_transfers_debit, ledger_transfers_credit); only SQLite moves
-- them out (migrations/sqlite/0016_ledger_account_index.sql).
SELECT 1;
