"""PGL902 unused-suppression."""

from __future__ import annotations

from pglint.rule import Example, Rule


class UnusedSuppression(Rule):
    """
    ## What it does
    Reports a `-- pglint: ignore[...]` comment that suppressed nothing, or that names a rule code
    pglint does not know. Codes of rules that are not selected in this run are not reported.

    ## Why is this bad?
    A stale suppression hides the next real finding on that line, and tells readers there is a
    problem where there is none.

    ## Example
    ```sql
    -- pglint: ignore[PGL101]
    SELECT 1;
    ```

    ## Use instead
    Remove the comment, or name the rule that actually fires.

    ## Fix safety
    Safe: the fix removes the comment (with its line when it stands alone), or only the unused
    codes when others in the same comment are still used. Nothing that runs changes.
    """

    code = "PGL902"
    name = "unused-suppression"
    summary = "A pglint suppression comment that suppresses nothing"
    references = (
        "https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-COMMENTS",
    )
    INVALID = (
        Example("-- pglint: ignore[PGL101]\nSELECT 1;", kind="sql",
                config={"select": ["PGL101", "PGL902"]}, fixed="SELECT 1;"),
        Example("SELECT 1;  -- pglint: ignore[PGL999]", kind="sql", fixed="SELECT 1;"),
        Example("-- pglint: ignore\nSELECT 1;", kind="sql", fixed="SELECT 1;"),
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"
                "  -- pglint: ignore[PGL101, PGL999]", kind="sql",
                config={"select": ["PGL101", "PGL902"]},
                fixed="UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"
                "  -- pglint: ignore[PGL101]", not_executable="needs the visit_counters table"),
    )
    VALID = (
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"
                "  -- pglint: ignore[PGL101]", kind="sql", config={"select": ["PGL101", "PGL902"]}),
        # PGL101 is not selected in this run, so its suppression cannot be judged.
        Example("-- pglint: ignore[PGL101]\nSELECT 1;", kind="sql"),
    )
