"""PGL901 syntax-error."""

from __future__ import annotations

from pglint.finding import Severity
from pglint.roles import LINTED_ROLES, TEST
from pglint.rule import Rule


class SyntaxErrorRule(Rule):
    """
    ## What it does
    Reports the first statement of a file that PostgreSQL's own parser rejects, at the position
    the parser gives (PostgreSQL stops there when it runs the file in a transaction, as psql
    with ON_ERROR_STOP does; the message says how many more statements fail),
    and a file that cannot be linted at all: unreadable, not UTF-8, binary, a directory named
    like a SQL file, or a SQL file of more statements than `max-statements` (default 100,000;
    every parsed statement is kept in memory for the whole run). The other statements of the file, and the other files, are still linted.
    When the word the parser rejects begins a statement (`CREATE`, `INSERT`, ...) at the start
    of a line, the message says which line before it ends a statement without `;` (inside an
    `ALTER`, an action without `,`).

    ## Why is this bad?
    A statement PostgreSQL cannot parse fails when the migration runs, and pglint cannot check
    what it cannot parse. psql meta-commands (`\\set`, `\\i`), psql variables (`:name`) and
    `COPY ... FROM stdin` data are understood and are not syntax errors; nor is a sentence of
    prose on a file's first line (an archive that starts "This is not meant to be run
    directly." so that psql stops at once), nor a section under a comment naming another
    database (`-- MySQL`), nor what a runner or template fills in before the SQL runs
    (`${table}`, `{{ .Schema }}`, `?TableName`, a driver's `?` parameters, a comment where the
    schema name goes, a script runner's `delimiter` lines, bun's `--migration:split`); a file
    holding a template's control statements (`{% if %}`, `{{if .mysql}}`, `#include`) has no
    syntax errors reported, since
    its text holds every branch. Files of another database (by their path, their syntax, or
    a name like `oracle_engine_7.6.sql` beside `postgres_engine_7.6.sql`) are not parsed. Nor
    are errors reported for a file most of whose statements (3 or more) fail, which is
    another database's SQL or a template rather than a mistake, or for a PL/pgSQL body that
    other code includes in a function (`IF ... THEN ... END IF;` at the top level):
    `--show-files` says so. Syntax errors in application SQL (query files, SQL outside
    migrations and scripts) are reported only when PGL901 is chosen (`extend-select =
    ["PGL901"]`): judged on real repositories, such files were mostly other engines' queries
    (ClickHouse, BigQuery, Trino) or templates that code fills in, and SQL an application runs
    fails its own tests first; the mistakes worth reporting hid in migrations, down
    migrations and scripts, which run rarely. A file that cannot be read is reported whatever
    its role.

    ## Example
    ```sql
    SELECT * FORM users;
    ```

    ## Use instead
    ```sql
    SELECT * FROM users;
    ```

    ## Fix safety
    No fix: pglint cannot know what was meant.
    """

    code = "PGL901"
    name = "syntax-error"
    summary = "PostgreSQL's parser rejects the statement, or the file cannot be read"
    references = (
        "https://www.postgresql.org/docs/current/sql-syntax.html",
    )
    severity = Severity.ERROR
    # Tests feed psql variables whole clauses and hold deliberate errors: not reported there.
    # Down migrations are: one that cannot parse fails the day it is needed.
    roles = LINTED_ROLES - {TEST}
