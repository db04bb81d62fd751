-- The fraud engine. Times are unix microseconds.
--
-- One row per scored attempt, written in batches by the engine's
-- background writer. No foreign key to merchants: the platform's own
-- standalone evaluations (sign-ups, logins) have merchant_id ''.
-- reasons is a JSON array of reasons, event the JSON of the attempt as
-- scored, features the feature vector as little-endian float32s in the
-- order of feature_set. shadow_score is -1 when no shadow model ran. The
-- outcome is recorded once (outcome_node is the process that saw it); a
-- label may be replaced. outcome_at and labeled_at are NULL until then.
CREATE TABLE risk_evaluations (
	id             TEXT PRIMARY KEY,
	merchant_id    TEXT NOT NULL,
	subject        TEXT NOT NULL,
	node           TEXT NOT NULL,
	created_at     INTEGER NOT NULL,
	score          INTEGER NOT NULL,
	level          TEXT NOT NULL,
	decision       TEXT NOT NULL,
	factor         TEXT NOT NULL,
	rule_id        TEXT NOT NULL,
	reasons        TEXT NOT NULL,
	model_version  TEXT NOT NULL,
	shadow_version TEXT NOT NULL,
	shadow_score   INTEGER NOT NULL,
	feature_set    TEXT NOT NULL,
	features       BLOB NOT NULL,
	event          TEXT NOT NULL,
	outcome        TEXT NOT NULL DEFAULT '',
	outcome_node   TEXT NOT NULL DEFAULT '',
	outcome_at     INTEGER NULL,
	label          TEXT NOT NULL DEFAULT '',
	label_source   TEXT NOT NULL DEFAULT '',
	labeled_at     INTEGER NULL
);
-- Replay, export and the other nodes' catch-up read in created order.
CREATE INDEX risk_evaluations_created ON risk_evaluations (created_at, id);
CREATE INDEX risk_evaluations_merchant ON risk_evaluations (merchant_id, created_at, id);
-- The evaluations of a payment; standalone ones have no subject.
CREATE INDEX risk_evaluations_subject ON risk_evaluations (subject, created_at) WHERE subject <> '';
-- Outcomes recorded since a time, for the other nodes.
CREATE INDEX risk_evaluations_outcome ON risk_evaluations (outcome_at, id) WHERE outcome_at IS NOT NULL;

-- Analysts' rules, evaluated in position order. version is bumped by
-- every change (optimistic concurrency, as payments). enabled is 0 or 1.
CREATE TABLE risk_rules (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	name        TEXT NOT NULL,
	expression  TEXT NOT NULL,
	action      TEXT NOT NULL,
	factor      TEXT NOT NULL,
	position    INTEGER NOT NULL,
	enabled     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	version     INTEGER NOT NULL
);
CREATE INDEX risk_rules_merchant ON risk_rules (merchant_id, position, id);

-- Allow and block lists. merchant_id '' holds the platform's entries,
-- which apply to every merchant. expires_at NULL: never.
CREATE TABLE risk_list_entries (
	merchant_id TEXT NOT NULL,
	list        TEXT NOT NULL CHECK (list IN ('allow', 'block')),
	type        TEXT NOT NULL,
	value       TEXT NOT NULL,
	note        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NULL,
	PRIMARY KEY (merchant_id, list, type, value)
);

-- The model registry. A version's body never changes once stored, so an
-- evaluation's model_version always names what scored it. metrics is
-- JSON. At most one model is active and at most one shadow.
CREATE TABLE risk_models (
	version      TEXT PRIMARY KEY,
	algo         TEXT NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('candidate', 'shadow', 'active', 'retired')),
	body         BLOB NOT NULL,
	metrics      TEXT NULL,
	created_at   INTEGER NOT NULL,
	activated_at INTEGER NULL
);
CREATE UNIQUE INDEX risk_models_one_active ON risk_models (status) WHERE status = 'active';
CREATE UNIQUE INDEX risk_models_one_shadow ON risk_models (status) WHERE status = 'shadow';

-- Payments held for an analyst: at most one case per payment.
CREATE TABLE risk_reviews (
	id            TEXT PRIMARY KEY,
	merchant_id   TEXT NOT NULL,
	payment_id    TEXT NOT NULL UNIQUE,
	evaluation_id TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('open', 'approved', 'rejected')),
	reason        TEXT NOT NULL,
	note          TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	closed_at     INTEGER NULL
);
CREATE INDEX risk_reviews_merchant ON risk_reviews (merchant_id, status, created_at, id);

-- A payment's latest risk decision, for the API and the dashboard: the
-- evaluation (rev_...) it came from, its score (-1: not scored), level,
-- decision and factor, its reasons (JSON) and the review case (rvw_...)
-- when one was opened.
ALTER TABLE payments ADD COLUMN risk_evaluation TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_score INTEGER NOT NULL DEFAULT -1;
ALTER TABLE payments ADD COLUMN risk_level TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_decision TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_factor TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_reasons TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN risk_review TEXT NOT NULL DEFAULT '';
