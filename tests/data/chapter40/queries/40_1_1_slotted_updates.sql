-- Use modulo arithmetic to distribute updates across 100 slots
UPDATE inventory_slots
SET reserved_count = reserved_count + 1
WHERE product_id = 123
  AND slot_id = (pg_backend_pid() % 100);

-- Sum at read time (slight computational cost, massive write scalability)
SELECT product_id, SUM(reserved_count) as total_reserved
FROM inventory_slots
WHERE product_id = 123
GROUP BY product_id;
