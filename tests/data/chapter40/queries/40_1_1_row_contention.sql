-- Anti-pattern: Centralized counter update
UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home'; -- expect: PGL101
-- Under 1000 concurrent requests, this serializes through a single row lock
-- Result: Lock waits cascade, connection pool exhaustion, timeout cascades

-- Detect row-level contention in real-time. (pg_stat_activity has no blocking_pid or
-- blocking_lock_mode column: PostgreSQL rejects this query, but its parser accepts it and no
-- pglint rule is about it.)
SELECT
    pid,
    wait_event_type,
    wait_event,
    blocking_pid,
    blocking_lock_mode,
    blocked_lock_mode,
    query
FROM pg_stat_activity sa
LEFT JOIN pg_locks blocking ON (
    sa.pid = blocking.pid AND
    blocking.granted = false
)
WHERE sa.wait_event_type = 'Lock'
  AND sa.wait_event = 'transactionid';
