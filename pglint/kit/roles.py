"""Whether a file's code runs once or over and over, decided from its role.

The role (`ctx.role`, decided when the file is found and read: pglint.roles) already says
what a file is to the project; a rule about a race, a retried insert or a hot row asks only
whether the code runs at application run time. Migrations (SQL, Django and Alembic), down
migrations, dumps, one-off scripts, seeds and tests run once or never in production: a race
or a retried insert there harms nobody. Rules ask this here rather than keep lists of folder
and file names of their own.
"""

from __future__ import annotations

import re

from pglint.context import FileContext
from pglint.roles import APPLICATION, LOAD_TEST

# The roles whose code runs over and over: the application, and load tests that stand for it.
REPEATED_ROLES = frozenset({APPLICATION, LOAD_TEST})


def runs_once(ctx: FileContext) -> bool:
    """True unless the file is application code or a load test (its code then runs
    repeatedly, concurrently with itself)."""
    return ctx.role not in REPEATED_ROLES


# A file or folder name that says PostgreSQL: `x.postgres.up.sql` (ory/popx),
# `x.sql.postgres` (Synapse), `migrations/postgres/` (OpenFGA), `postgresql/`, `pg/`.
_POSTGRES_NAME = re.compile(r"(?:^|[./_-])(?:postgres|postgresql|pg|pgsql)(?:$|[./_-])",
                            re.IGNORECASE)


def may_run_elsewhere(ctx: FileContext) -> bool:
    """Whether this SQL file may also run on another database: the project shows one (a
    SQLite or MySQL migration, a settings file naming it: pglint.facts) and nothing in the
    file's path says PostgreSQL. SQL only PostgreSQL knows (`SET LOCAL lock_timeout`) then
    fails there: a fix adding it is shown, not applied."""
    if not ctx.model.other_backends:
        return False
    return not any(_POSTGRES_NAME.search(part) for part in ctx.file.path.parts[-3:])
