-- PostgreSQL keeps events, executions, their steps and vendor-webhook deliveries in daily
-- partitions, so retention drops a day whole instead of deleting its rows one by one. The day
-- is the time written into each id (`exe_` + 13 hex digits of milliseconds + randomness), so a
-- row is found by its id alone in one partition, and a step lives in its execution's day.
-- dialbridge creates the partitions a week ahead (`dialbridge_day_partitions`, from
-- retention.rs); a row whose id
-- holds no such time goes to the default partition, which retention purges row by row. The ids
-- compare byte by byte (COLLATE "C"), whatever the database's collation.
-- SQLite has no partitions: this migration is PostgreSQL's alone (see migration_trees.rs).

CREATE FUNCTION dialbridge_id_bound(prefix TEXT, at_ms BIGINT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT prefix || '_' || lpad(to_hex(at_ms), 13, '0') $$;

-- The partitions of the UTC day that holds `at_ms`, when missing.
CREATE FUNCTION dialbridge_day_partitions(at_ms BIGINT) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    day_ms BIGINT := at_ms - (at_ms % 86400000);
    suffix TEXT := to_char(to_timestamp(day_ms / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD');
    kind RECORD;
BEGIN
    FOR kind IN SELECT * FROM (VALUES ('events', 'evt'), ('executions', 'exe'),
            ('execution_steps', 'exe'), ('webhook_deliveries', 'msg')) AS k (parent, prefix) LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            kind.parent || '_d' || suffix, kind.parent,
            dialbridge_id_bound(kind.prefix, day_ms),
            dialbridge_id_bound(kind.prefix, day_ms + 86400000));
    END LOOP;
END $$;

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER TABLE execution_steps RENAME TO execution_steps_unpartitioned;
ALTER TABLE executions RENAME TO executions_unpartitioned;
ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_unpartitioned;

CREATE TABLE events (
    id TEXT COLLATE "C" NOT NULL,
    account_id TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL
) PARTITION BY RANGE (id);

CREATE TABLE executions (
    id TEXT COLLATE "C" NOT NULL,
    account_id TEXT NOT NULL,
    workflow_key TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    trigger_json TEXT NOT NULL,
    event_json TEXT NOT NULL,
    error TEXT,
    run_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    replay_of TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    shard BIGINT NOT NULL DEFAULT -1,
    event_id TEXT,
    claims BIGINT NOT NULL DEFAULT 0
) PARTITION BY RANGE (id);

-- No foreign key to executions: a step's partition is dropped with its execution's.
CREATE TABLE execution_steps (
    execution_id TEXT COLLATE "C" NOT NULL,
    step_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    wake_at BIGINT
) PARTITION BY RANGE (execution_id);

CREATE TABLE webhook_deliveries (
    id TEXT COLLATE "C" NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT
) PARTITION BY RANGE (id);

CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE TABLE executions_default PARTITION OF executions DEFAULT;
CREATE TABLE execution_steps_default PARTITION OF execution_steps DEFAULT;
CREATE TABLE webhook_deliveries_default PARTITION OF webhook_deliveries DEFAULT;

-- The days the rows so far were written on, through tomorrow (the retention cycle, at start
-- and hourly, makes the rest of the coming week).
DO $$
DECLARE
    now_ms BIGINT := (extract(epoch FROM now()) * 1000)::BIGINT;
    first_ms BIGINT := LEAST(now_ms,
        (SELECT min(received_at) FROM events_unpartitioned),
        (SELECT min(created_at) FROM executions_unpartitioned),
        (SELECT min(created_at) FROM webhook_deliveries_unpartitioned));
    day BIGINT := first_ms - (first_ms % 86400000);
BEGIN
    WHILE day <= now_ms + 86400000 LOOP
        PERFORM dialbridge_day_partitions(day);
        day := day + 86400000;
    END LOOP;
END $$;

INSERT INTO events SELECT * FROM events_unpartitioned;
INSERT INTO executions SELECT * FROM executions_unpartitioned;
INSERT INTO execution_steps SELECT * FROM execution_steps_unpartitioned;
INSERT INTO webhook_deliveries SELECT * FROM webhook_deliveries_unpartitioned;
DROP TABLE execution_steps_unpartitioned;
DROP TABLE executions_unpartitioned;
DROP TABLE events_unpartitioned;
DROP TABLE webhook_deliveries_unpartitioned;

ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_by_received ON events (received_at);

ALTER TABLE executions ADD PRIMARY KEY (id);
CREATE INDEX executions_by_status_run_at ON executions (status, run_at);
CREATE INDEX executions_by_lease ON executions (lease_until);
CREATE INDEX executions_by_created ON executions (created_at, id);
CREATE INDEX executions_by_account ON executions (account_id, created_at, id);
CREATE INDEX executions_by_workflow ON executions (workflow_key, created_at, id);
CREATE INDEX executions_claimable ON executions (account_id, run_at) WHERE status IN ('queued', 'running');
CREATE INDEX executions_by_shard ON executions (shard, created_at);

ALTER TABLE execution_steps ADD PRIMARY KEY (execution_id, step_id);

ALTER TABLE webhook_deliveries ADD PRIMARY KEY (id);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_at);
