-- Listing executions of one status reads them newest first (`ORDER BY created_at DESC, id
-- DESC`). The index on (status, run_at) served no query in that order: SQLite sorted every
-- execution of the status for each page (49 ms for a page of `completed` among 200,000
-- executions, against 0.02 ms with this index), and PostgreSQL's planner used it for nothing.
-- This one replaces it, so an execution still writes one index entry for its status.
DROP INDEX executions_by_status_run_at;
CREATE INDEX executions_by_status ON executions (status, created_at, id);
