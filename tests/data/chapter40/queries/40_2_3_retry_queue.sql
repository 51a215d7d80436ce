-- Worker query (index on next_attempt_at)
SELECT * FROM retry_queue -- expect: PGL307 PGL208
WHERE next_attempt_at <= now()
ORDER BY next_attempt_at
LIMIT 10
FOR UPDATE SKIP LOCKED;  -- Skip items being processed by other workers

-- On failure, increment with backoff
UPDATE retry_queue
SET attempt_count = attempt_count + 1,
    next_attempt_at = now() + (interval '1 second' * (2 ^ attempt_count)),  -- expect: PGL207 PGL208
    error_message = 'Error details...'
WHERE id = :id;
