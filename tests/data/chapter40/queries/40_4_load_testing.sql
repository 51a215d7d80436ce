-- Generate skewed data matching production cardinality
-- (80% of traffic hits 20% of users - Pareto distribution)
WITH RECURSIVE user_skew AS (
    SELECT
        CASE
            WHEN random() < 0.8 THEN (random() * 1000)::int  -- Hot users
            ELSE (random() * 50000 + 1000)::int              -- Long tail
        END as user_id,
        gen_random_uuid() as event_id
    FROM generate_series(1, 1000000)
)
INSERT INTO events (user_id, event_id, created_at)
SELECT user_id, event_id, now() - (random() * interval '30 days')
FROM user_skew;

-- WRONG: Uniform distribution hides lock contention (the chapter's WHERE fragment, completed)
SELECT * FROM users WHERE user_id = (random() * 1000000)::int; -- expect: PGL401

-- RIGHT: Pareto distribution reveals real hotspots (completed likewise)
SELECT * FROM users WHERE user_id = CASE WHEN random() < 0.5 THEN 1 ELSE (random()*100000)::int END;

-- WRONG: Single row operations only
UPDATE accounts SET balance = balance + 1 WHERE id = 1; -- expect: PGL101

-- Snapshot script run every 10 seconds during test
SELECT
    now() as sample_time,
    (SELECT count(*) FROM pg_stat_activity WHERE state = 'active') as active_queries,
    (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock') as lock_waits,
    (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'IO') as io_waits,
    (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database) as total_xacts,
    (SELECT sum(blks_hit) FROM pg_stat_database) as cache_hits,
    (SELECT sum(blks_read) FROM pg_stat_database) as disk_reads,
    (SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction') as idle_in_tx;
