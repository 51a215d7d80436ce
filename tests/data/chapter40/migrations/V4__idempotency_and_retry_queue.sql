-- 40.2.2 The chapter uses a processing_status type it never creates: created here.
CREATE TYPE processing_status AS ENUM ('pending', 'failed', 'done');

-- 40.2.2 Invoice processing with idempotency key (recommended form).
CREATE TABLE invoice_processing (
    idempotency_key text PRIMARY KEY,
    invoice_id bigint,
    amount_cents int,
    processed_at timestamptz DEFAULT now(),
    status processing_status DEFAULT 'pending'
);

-- 40.2.3 Database-side retry queue (the chapter's worker comment says "index on
-- next_attempt_at", but no index is created).
CREATE TABLE retry_queue ( -- expect: PGL104
    id bigserial PRIMARY KEY,
    payload jsonb,
    attempt_count int DEFAULT 0,
    next_attempt_at timestamptz DEFAULT now(),
    error_message text
);

-- The orders table of the state machine example (not chapter text).
CREATE TABLE orders (
    order_id bigint PRIMARY KEY,
    status text NOT NULL,
    shipped_at timestamptz
);

-- 40.3.3 The queue of the load-leveling example (not chapter text).
CREATE TABLE ingestion_queue (
    id bigserial PRIMARY KEY,
    payload jsonb,
    status text NOT NULL DEFAULT 'pending'
);
CREATE INDEX ingestion_queue_pending_idx ON ingestion_queue (id) WHERE status = 'pending';
