-- Redelivered events are recognised by their own table, apart from the events (which
-- PostgreSQL keeps in daily partitions, where a unique key could hold only within a day). A
-- key leaves with its event, by the event retention.
CREATE TABLE event_dedupe (
    account_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, dedupe_key)
);
CREATE INDEX event_dedupe_by_received ON event_dedupe (received_at);
INSERT INTO event_dedupe (account_id, dedupe_key, event_id, received_at)
    SELECT account_id, dedupe_key, id, received_at FROM events WHERE dedupe_key IS NOT NULL;

-- Vendor-webhook claims read each endpoint's due pending deliveries; delivered and failed ones
-- are on no claim index.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
DROP INDEX webhook_deliveries_by_status;

-- Each endpoint's circuit breaker: failed attempts in a row, and until when none is tried.
ALTER TABLE webhook_endpoints ADD COLUMN failures_in_a_row INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN open_until INTEGER;

-- Retention deletes old deliveries by age (SQLite, and PostgreSQL's default partition).
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_at);
