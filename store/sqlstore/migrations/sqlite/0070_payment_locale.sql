-- The payer's language as the merchant named it on the payment (a BCP 47
-- tag such as de-AT); '' lets the hosted pages follow the browser.
ALTER TABLE payments ADD COLUMN locale TEXT NOT NULL DEFAULT '';
