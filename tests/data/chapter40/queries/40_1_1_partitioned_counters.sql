-- Application determines shard via hash(client_id) % 10
INSERT INTO visit_counter_shards (shard_id, page_id, count)
VALUES (4, '/home', 1)
ON CONFLICT (shard_id, page_id)
DO UPDATE SET count = visit_counter_shards.count + 1;

-- Background job aggregates to master table every minute
INSERT INTO visit_counters (page_id, count)
SELECT page_id, SUM(count) FROM visit_counter_shards GROUP BY page_id
ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + EXCLUDED.count;

-- Truncate shards after aggregation (fast, minimal logging)
TRUNCATE visit_counter_shards; -- expect: PGL109
