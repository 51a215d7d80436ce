-- ‮evil comment‬ and ⁦isolate⁩
UPDATE "visit‮counters" SET count = count + 1 WHERE page_id = '‮/home⁧x';
SELECT 1 FROM ‮t‏;
