-- Platform-wide locks (merchant_id '') always expire (issue 12, item 3):
-- a merchant's fraud label used to write one that never did, freezing a
-- voucher for every merchant. Such locks now last 24 hours from when they
-- were made (the default LockFor); the operator lists and lifts them with
-- kassa risk locks list|lift.
UPDATE risk_list_entries SET expires_at = created_at + 86400000000
WHERE merchant_id = '' AND list = 'block' AND expires_at IS NULL;
