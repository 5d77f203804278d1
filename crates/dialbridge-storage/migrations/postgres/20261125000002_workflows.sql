-- Workflows and their versions, per-account enablements, events, executions and their step
-- journal, schedule ticks, the Dialpad webhooks dialbridge provisions, and the vendor's webhook
-- endpoints with their deliveries. Times are milliseconds since the Unix epoch; JSON is text;
-- secrets are AES-256-GCM ciphertext.

-- A workflow key; `latest_version` is bumped by every save (in the same transaction as the
-- version's insert), so two saves never get the same number. Deleting only sets `deleted_at`.
CREATE TABLE workflows (
    key TEXT PRIMARY KEY,
    latest_version BIGINT NOT NULL,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE workflow_versions (
    key TEXT NOT NULL REFERENCES workflows (key) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (key, version)
);

CREATE TABLE workflow_enablements (
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    workflow_key TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, workflow_key)
);
CREATE INDEX workflow_enablements_by_workflow ON workflow_enablements (workflow_key, account_id);

-- NULL dedupe keys are distinct in a unique index, so only real keys deduplicate.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (account_id, dedupe_key)
);
CREATE INDEX events_by_received ON events (received_at);

CREATE TABLE executions (
    id TEXT PRIMARY KEY,
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
    finished_at BIGINT
);
CREATE INDEX executions_by_status_run_at ON executions (status, run_at);
CREATE INDEX executions_by_lease ON executions (lease_until);
CREATE INDEX executions_by_created ON executions (created_at, id);
CREATE INDEX executions_by_account ON executions (account_id, created_at, id);
CREATE INDEX executions_by_workflow ON executions (workflow_key, created_at, id);

CREATE TABLE execution_steps (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    wake_at BIGINT,
    PRIMARY KEY (execution_id, step_id)
);

CREATE TABLE schedule_ticks (
    workflow_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    tick BIGINT NOT NULL,
    PRIMARY KEY (workflow_key, account_id, tick)
);

-- Named rows a transaction writes first to serialise with others doing the same (claims).
CREATE TABLE store_locks (
    name TEXT PRIMARY KEY,
    taken_at BIGINT NOT NULL
);

CREATE TABLE hooks (
    hook_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts (account_id) ON DELETE CASCADE,
    dialpad_webhook_id TEXT,
    secret BYTEA NOT NULL,
    subscriptions TEXT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
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
);
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at, id);
