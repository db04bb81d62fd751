-- A merchant's category (what it sells: rules such as "no credit for
-- gambling" read it) and the ISO 3166-1 alpha-2 country of its licence
-- (the jurisdiction whose rules apply; '' until the operator sets it).
ALTER TABLE merchants ADD COLUMN category TEXT NOT NULL DEFAULT 'general';
ALTER TABLE merchants ADD COLUMN country TEXT NOT NULL DEFAULT '';
