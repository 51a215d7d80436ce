"""PGL901 syntax-error."""

from __future__ import annotations

from pglint.finding import Severity
from pglint.roles import LINTED_ROLES, TEST
from pglint.rule import Example, Rule

_ORDERS = {"migrations/0001_orders.sql": "CREATE TABLE orders (id bigint PRIMARY KEY, a int, "
                                                    "b int, note text, created_at timestamptz);\n"}


class SyntaxErrorRule(Rule):
    """
    ## What it does
    By default, reports a file that cannot be linted at all (below): pglint never passes over
    a file in silence. When PGL901 is chosen (`extend-select = ["PGL901"]`, `--select ALL`),
    it also reports the first statement of a file that PostgreSQL's own parser rejects, at the position
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
    `--show-files` says so.

    Syntax errors are off by default. Judged on repositories pglint had never been tuned on,
    they were worth acting on in 4 of 19 findings (round 19) and 21 of 58 over three fresh
    samples: a repository's `.sql` files are often another database's (SQL Anywhere, MariaDB
    and ClickHouse migrations beside PostgreSQL ones, Redshift views, BigQuery and Trino
    queries) or templates, and nothing in the text tells every one of them from PostgreSQL.
    The mistakes worth reporting were in PostgreSQL migrations, down migrations and upgrade
    scripts, which run rarely: choose PGL901 where every `.sql` file is PostgreSQL, or set
    `[tool.pglint.roles]` for the folders that are not. A file that cannot be read is
    reported whatever the selection and its role.

    ## Example
    ```sql
    SELECT * FORM users;
    ```

    ## Use instead
    ```sql
    SELECT * FROM users;
    ```

    ## Fix safety
    For mistakes seen in real migrations, an unsafe fix (applied with `--unsafe-fixes`) makes
    the statement parse: the `;` or `,` a line lacks before the next statement or action, a
    `,` that ends a list (`(a int, b int,)`, `SELECT a, b, FROM`), a type after a dropped
    column (`DROP COLUMN c int`), an index's `USING brin` written after its columns, `IF NOT
    EXISTS` or `IF EXISTS` after a name (`drop index x if exists`), `ADD IF NOT EXISTS COLUMN`,
    a name PostgreSQL reads as a keyword (`order`, `user`; `json` since 16), quoted. It is offered only when the
    statement parses after it, and it is unsafe because it is the likely intent, not a
    certainty: a trailing `,` may stand for a column someone forgot. Other errors have no fix:
    pglint cannot know what was meant.
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

    VALID = (
        Example("CREATE INDEX orders_a ON orders (a);\nCREATE INDEX orders_b ON orders (b);\n",
                context=_ORDERS),
        # A runner's placeholder is filled in before the SQL runs.
        Example("CREATE TABLE ${schema}.audit (id bigint);\n"),
    )
    INVALID = (
        Example("CREATE TABLE audit (id bigint, note text,);\n",
                fixed="CREATE TABLE audit (id bigint, note text);\n"),
        Example("CREATE INDEX orders_a ON orders (a)\nCREATE INDEX orders_b ON orders (b);\n",
                fixed="CREATE INDEX orders_a ON orders (a);\nCREATE INDEX orders_b ON orders (b);\n",
                context=_ORDERS),
        Example("ALTER TABLE orders\n    DROP COLUMN a\n    DROP COLUMN b;\n",
                fixed="ALTER TABLE orders\n    DROP COLUMN a,\n    DROP COLUMN b;\n",
                context=_ORDERS),
        Example("ALTER TABLE orders DROP COLUMN IF EXISTS note text;\n",
                fixed="ALTER TABLE orders DROP COLUMN IF EXISTS note;\n", context=_ORDERS),
        Example("CREATE INDEX orders_created ON orders (created_at) USING brin;\n",
                fixed="CREATE INDEX orders_created ON orders USING brin (created_at);\n",
                context=_ORDERS),
        Example("CREATE TABLE audit IF NOT EXISTS (id bigint);\n",
                fixed="CREATE TABLE IF NOT EXISTS audit (id bigint);\n"),
        Example("CREATE TABLE audit (id bigint, user text);\n",
                fixed='CREATE TABLE audit (id bigint, "user" text);\n'),
        Example("DROP INDEX orders_a IF EXISTS;\n", fixed="DROP INDEX IF EXISTS orders_a;\n",
                context=_ORDERS),
        Example("ALTER TABLE orders ADD IF NOT EXISTS COLUMN paid_at timestamptz;\n",
                fixed="ALTER TABLE orders ADD COLUMN IF NOT EXISTS paid_at timestamptz;\n",
                context=_ORDERS),
    )
