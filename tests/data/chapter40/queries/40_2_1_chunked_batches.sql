-- Process 1000 rows at a time to prevent long transactions
DO $$
DECLARE
    batch_size CONSTANT int := 1000;
    rows_affected int;
BEGIN
    LOOP
        INSERT INTO target_table (id, data) -- expect: PGL203
        SELECT id, data
        FROM staging_table
        WHERE processed = false
        LIMIT batch_size
        ON CONFLICT DO NOTHING;

        GET DIAGNOSTICS rows_affected = ROW_COUNT;

        UPDATE staging_table -- expect: PGL203
        SET processed = true
        WHERE id IN (
            SELECT id FROM staging_table
            WHERE processed = false
            LIMIT batch_size
        );

        COMMIT;  -- Frequent commits prevent lock escalation
        EXIT WHEN rows_affected = 0;

        PERFORM pg_sleep(0.01);  -- Micro-backoff between batches
    END LOOP;
END $$;
