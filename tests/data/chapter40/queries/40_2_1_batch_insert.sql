-- Batch insert with conflict handling
INSERT INTO events (event_id, payload, processed_at)
VALUES
    ('evt-001', '{"data": 1}', now()),
    ('evt-002', '{"data": 2}', now()),
    ('evt-003', '{"data": 3}', now())
ON CONFLICT (event_id) DO NOTHING;
-- Atomic: all succeed or none succeed
-- Idempotent: duplicate event_ids silently ignored
