-- PostgreSQL moves events, executions, steps and deliveries into daily partitions here. SQLite
-- has none: retention deletes old rows in batches and gives the space back by incremental
-- vacuum. Both keep event deduplication in `event_dedupe` alone, so the events table here
-- loses its unique key (SQLite drops a constraint by rebuilding the table).
-- This migration differs between the dialects on purpose (see migration_trees.rs).

CREATE TABLE events_rebuilt (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
INSERT INTO events_rebuilt SELECT id, account_id, source, name, dedupe_key, payload, received_at FROM events;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_by_received ON events (received_at);
