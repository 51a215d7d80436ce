UPDATE visit_counters SET count = count + 1 WHERE page_id = '[2J]0;pwned31m';
SELECT [31m;
SELECT 'ab';
