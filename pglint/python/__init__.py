"""Python application code: CPython's tree of a file, which every rule and reader reads
(`pyfile`), SQL embedded in string literals (`frontend`), ORM facts (`orm`), Python migrations
(`schema`), and libcst's tree, parsed only to render a fix (`tree`). What rules read of Python
code beyond that (ORM chains, retries, edits) is in the rule kit, `pglint.kit`.

The front end's names are re-exported lazily: rules import `pglint.kit.orm` at start-up,
and a run over SQL files alone should not pay for the embedded-SQL front end.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmbeddedSQL", "PositionMap", "extract_sql", "might_contain_sql", "parse_embedded"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pglint.python import frontend

        return getattr(frontend, name)
    raise AttributeError(f"module 'pglint.python' has no attribute {name!r}")
