"""PGL2xx: batch writes, idempotency, races and retries."""
