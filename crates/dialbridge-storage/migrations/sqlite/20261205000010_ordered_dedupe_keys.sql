-- Redelivery keys now begin with the event's time, so new keys go in near the end of the key
-- index instead of at a random place in it (core's `events/dedupe_key.rs`). Keys stored before
-- are the digest alone (64 characters); a new event is also looked up under that form, in this
-- index of only the old keys, which retention empties as it removes their events, and which a
-- new key never enters.
CREATE INDEX event_dedupe_legacy_keys ON event_dedupe (account_id, dedupe_key) WHERE length(dedupe_key) = 64;
