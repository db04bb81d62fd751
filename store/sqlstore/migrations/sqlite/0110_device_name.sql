-- The name a payer gave one of their devices on the account page ("Work
-- laptop"); '' shows the browser and system read from its User-Agent.
ALTER TABLE identity_devices ADD COLUMN name TEXT NOT NULL DEFAULT '';
