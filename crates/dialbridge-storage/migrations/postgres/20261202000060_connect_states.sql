-- A connect link is spent when it succeeds, not when it is opened: each opening of the link
-- starts an OAuth attempt of its own (a state and its PKCE verifier), and the first attempt
-- that connects the account spends the link and every other attempt of it. Times are
-- milliseconds since the Unix epoch; only the SHA-256 of a state is kept.
CREATE TABLE connect_states (
    state_hash TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL REFERENCES connect_sessions (token_hash) ON DELETE CASCADE,
    code_verifier BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX connect_states_by_link ON connect_states (token_hash);

-- Attempts in progress keep working: their state moves to the new table, and the link, spent
-- on opening before, is open again until one succeeds.
INSERT INTO connect_states (state_hash, token_hash, code_verifier, created_at)
SELECT state_hash, token_hash, code_verifier, opened_at
FROM connect_sessions
WHERE state_hash IS NOT NULL AND code_verifier IS NOT NULL AND completed_at IS NULL;

-- What the links kept of their one attempt goes. SQLite cannot drop a UNIQUE column, so
-- `state_hash` stays, empty and unused.
UPDATE connect_sessions SET state_hash = NULL;
ALTER TABLE connect_sessions DROP COLUMN code_verifier;
ALTER TABLE connect_sessions DROP COLUMN opened_at;
