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
    No fix yet: remove the comment by hand.
    """

    code = "PGL902"
    name = "unused-suppression"
    summary = "A pglint suppression comment that suppresses nothing"
    INVALID = (Example("-- pglint: ignore[PGL101]\nSELECT 1;", kind="sql"),)
    VALID = (Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"
                     "  -- pglint: ignore[PGL101]", kind="sql"),)
