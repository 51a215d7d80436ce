-- Acquire advisory lock before update (allows queuing in application logic)
SELECT pg_try_advisory_lock(hashtext('inventory:' || product_id)); -- expect: PGL107 PGL108

-- If acquired, proceed with update
UPDATE inventory SET stock = stock - 1 WHERE product_id = 123; -- expect: PGL101

-- Release in same session or transaction end
SELECT pg_advisory_unlock(hashtext('inventory:' || product_id));
