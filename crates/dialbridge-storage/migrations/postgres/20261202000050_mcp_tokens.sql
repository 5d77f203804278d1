-- MCP tokens: each lets an MCP client reach one account's tools and resources over /mcp.
-- Stored as SHA-256 of the token (like admin keys); `tools` is a JSON array of the tool names
-- it may see, or NULL for every tool the account's scopes allow. Revoking deletes the row.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE mcp_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    name TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    tools TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE INDEX mcp_tokens_by_account ON mcp_tokens (account_id, created_at);
