-- 40.1.1 Partitioned counters: the shard table (recommended form).
CREATE TABLE visit_counter_shards (
    shard_id int,
    page_id text,
    count int,
    PRIMARY KEY (shard_id, page_id)
);

-- 40.1.2 Index contention: the high-contention pattern.
CREATE TABLE events (
    event_id bigserial PRIMARY KEY,  -- Sequential, right-growing -- expect: PGL102 PGL106
    created_at timestamptz DEFAULT now(),  -- Also sequential
    payload jsonb
);
-- 10,000 inserts/sec all compete for the same leaf page latch

-- 40.1.2 Solution 1: hash sharding for the PK (recommended form; renamed to events_v2 so both
-- versions can live in one schema).
CREATE TABLE events_v2 (
    event_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- or: bigint generated always as (hashtext(some_unique_data)::bigint) stored
    created_at timestamptz,
    payload jsonb
);

-- 40.1.3 High-throughput sequence configuration (recommended form).
CREATE SEQUENCE high_volume_seq
    CACHE 1000  -- Pre-allocate 1000 values in memory per session
    NO CYCLE;
