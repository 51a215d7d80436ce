-- 40.1.2 Solution 2: BRIN index for time series. The recommended index, but built without
-- CONCURRENTLY on a live, existing table and with no lock_timeout: its SHARE lock waits behind
-- running transactions while every insert queues behind it, for as long as the build takes
-- (CONCURRENTLY is the remedy, not a statement_timeout).
CREATE INDEX idx_events_created_brin ON events USING BRIN (created_at) -- expect: PGL301 PGL501
WITH (pages_per_range = 128);
-- Tiny index size, minimal write overhead, no right-growing hotspot

-- 40.1.2 Solution 3: fillfactor tuning (recommended form). SET (fillfactor) takes only a SHARE
-- UPDATE EXCLUSIVE lock, which does not block reads or writes.
ALTER TABLE user_sessions SET (fillfactor = 70);
