"""Catalog operations from Python migrations (Alembic `op.create_table` ..., Django
`migrations.CreateModel` ...): filled in below."""

from __future__ import annotations

from typing import Any, Callable

from pglint.model.location import Location


def schema_ops(tree: Any, where: Callable[[int, int], Location]) -> list[tuple]:
    """The catalog operations of a Python migration module, in file order ([] for others)."""
    return []
