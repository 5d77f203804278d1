-- How many times Dialpad delivered an event again after it was stored (a redelivery is
-- recognised by its key and not stored again): the events page's duplicate flag.
ALTER TABLE event_dedupe ADD COLUMN redeliveries INTEGER NOT NULL DEFAULT 0;
CREATE INDEX event_dedupe_by_event ON event_dedupe (event_id);
