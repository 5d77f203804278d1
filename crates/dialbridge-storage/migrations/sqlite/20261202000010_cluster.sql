-- Scale-out: the processes sharing this database and the shards of work each one owns; each
-- account's shard (by its Dialpad company, so one company's limits live in one process) and
-- each execution's; executions that point at their event instead of copying it; when a token
-- is refreshed ahead of expiry and when an account's Dialpad subscriptions are audited; the
-- throttle's windows shared by the cluster. Times are milliseconds since the Unix epoch.

CREATE TABLE nodes (
    owner TEXT PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL
);

CREATE TABLE shard_leases (
    shard INTEGER PRIMARY KEY,
    owner TEXT,
    lease_until INTEGER NOT NULL
);

-- -1 until dialbridge computes it (at start, for rows written before this migration).
ALTER TABLE accounts ADD COLUMN shard INTEGER NOT NULL DEFAULT -1;
CREATE INDEX accounts_by_shard ON accounts (shard, account_id);

ALTER TABLE executions ADD COLUMN shard INTEGER NOT NULL DEFAULT -1;
-- Set for executions written from now on; their event_json is then the JSON text 'null'.
ALTER TABLE executions ADD COLUMN event_id TEXT;
-- How many times it was claimed: from the second claim on, it resumes from its journal.
ALTER TABLE executions ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
UPDATE executions SET claims = 1 WHERE status = 'running';
-- Claims: the oldest due executions of one account, among the unfinished only.
CREATE INDEX executions_claimable ON executions (account_id, run_at) WHERE status IN ('queued', 'running');
-- New work of a shard since a moment (the owner's fallback look for work it was not told of).
CREATE INDEX executions_by_shard ON executions (shard, created_at);

ALTER TABLE connections ADD COLUMN refresh_at INTEGER;
-- Connections refreshed before this: ahead by the default margin (5 minutes), or at their retry.
UPDATE connections SET refresh_at = COALESCE(next_refresh_at, expires_at - 300000)
    WHERE status = 'connected' AND auth_type = 'oauth' AND expires_at IS NOT NULL;
CREATE INDEX connections_by_refresh_at ON connections (refresh_at) WHERE status = 'connected' AND auth_type = 'oauth';

-- 0 (due at once) for hooks provisioned before audits were spread over the day.
ALTER TABLE hooks ADD COLUMN next_audit_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX hooks_by_audit ON hooks (next_audit_at);

CREATE TABLE rate_windows (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Dialpad's limits per environment as the vendor set them (JSON); NULL: Dialpad's documented.
ALTER TABLE app_credentials ADD COLUMN rate_limits TEXT;
