"""Whether a file's code runs once or over and over, decided from its role.

The role (`ctx.role`, decided when the file is found and read: pglint.roles) already says
what a file is to the project; a rule about a race, a retried insert or a hot row asks only
whether the code runs at application run time. Migrations (SQL, Django and Alembic), down
migrations, dumps, one-off scripts, seeds and tests run once or never in production: a race
or a retried insert there harms nobody. Rules ask this here rather than keep lists of folder
and file names of their own.
"""

from __future__ import annotations

from pglint.context import FileContext
from pglint.roles import APPLICATION, LOAD_TEST

# The roles whose code runs over and over: the application, and load tests that stand for it.
REPEATED_ROLES = frozenset({APPLICATION, LOAD_TEST})


def runs_once(ctx: FileContext) -> bool:
    """True unless the file is application code or a load test (its code then runs
    repeatedly, concurrently with itself)."""
    return ctx.role not in REPEATED_ROLES
