"""Python application code: SQL embedded in string literals (see `frontend`)."""

from pglint.python.frontend import (EmbeddedSQL, PositionMap, extract_sql, might_contain_sql,
                                   parse_embedded)

__all__ = ["EmbeddedSQL", "PositionMap", "extract_sql", "might_contain_sql", "parse_embedded"]
