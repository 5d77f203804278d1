-- The dashboard's events page lists events newest first, one account's or all, and links each
-- to the executions it started: an index for each of those two reads.
CREATE INDEX events_by_account ON events (account_id, received_at, id);
CREATE INDEX executions_by_event ON executions (event_id);
