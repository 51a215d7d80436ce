SELECT 1; -- pglint: ignore[NOPE999, [31m
-- pglint: ignore[
SELECT 2; -- pglint: ignore[PGL101
