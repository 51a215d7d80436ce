-- Client retries with same idempotency_key
INSERT INTO invoice_processing (idempotency_key, invoice_id, amount_cents)
VALUES ('req-2024-001', 12345, 10000)
ON CONFLICT (idempotency_key)
DO UPDATE SET
    -- Only update if previous attempt failed
    status = CASE
        WHEN invoice_processing.status = 'failed' THEN 'pending'::processing_status
        ELSE invoice_processing.status
    END,
    processed_at = CASE
        WHEN invoice_processing.status = 'failed' THEN now()
        ELSE invoice_processing.processed_at
    END
WHERE invoice_processing.status = 'failed'
RETURNING invoice_id, status,
    (xmax = 0) as is_new_insert;  -- True if first attempt, false if conflict/update

-- Ensure transitions only happen from valid prior states
UPDATE orders
SET status = 'shipped', shipped_at = now()
WHERE order_id = 123
  AND status = 'paid';  -- Only ship paid orders, not cancelled ones
