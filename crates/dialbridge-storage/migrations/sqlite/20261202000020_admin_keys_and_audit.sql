-- Admin API keys get an id, a name, a hint and a revocation time, and admin changes are
-- recorded (who, what, when). Times are milliseconds since the Unix epoch; JSON is text.

-- A key as SHA-256 of the key. `key_hint` is the start of a key dialbridge generated (NULL
-- for one the operator chose); a revoked key keeps its row, so the audit log's key ids stay
-- meaningful.
CREATE TABLE admin_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

-- The keys of before were the bootstrap key (configured, generated or the dev key).
INSERT INTO admin_keys (id, name, key_hash, created_at)
SELECT 'key_' || ROW_NUMBER() OVER (ORDER BY created_at, key_hash), 'bootstrap', key_hash, created_at
FROM admin_api_keys;

DROP TABLE admin_api_keys;

-- `source` is `api` (with the key's id and name at the time) or `cli`; `summary` never holds
-- a secret.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    key_id TEXT,
    key_name TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX audit_log_by_created ON audit_log (created_at, id);
