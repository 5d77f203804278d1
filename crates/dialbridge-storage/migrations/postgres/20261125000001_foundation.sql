-- The foundation: app settings, admin keys, accounts, connections and connect sessions.
-- Times are milliseconds since the Unix epoch; secrets are AES-256-GCM ciphertext.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE app_credentials (
    environment TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_secret BYTEA NOT NULL,
    base_url TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE admin_api_keys (
    key_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE connections (
    account_id TEXT PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    auth_type TEXT NOT NULL,
    status TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '[]',
    dialpad_user_id TEXT,
    dialpad_company_id TEXT,
    connected_at BIGINT,
    access_token BYTEA,
    refresh_token BYTEA,
    api_key BYTEA,
    expires_at BIGINT,
    token_version BIGINT NOT NULL DEFAULT 0,
    refresh_failures BIGINT NOT NULL DEFAULT 0,
    next_refresh_at BIGINT,
    last_error TEXT,
    refresh_lock_owner TEXT,
    refresh_lock_until BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX connections_by_expiry ON connections (status, expires_at);

CREATE TABLE connect_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    redirect_url TEXT,
    scopes TEXT NOT NULL,
    custom_scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state_hash TEXT UNIQUE,
    code_verifier BYTEA,
    opened_at BIGINT,
    completed_at BIGINT
);
CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);
