"""PGL401 uniform-random-load (pgbench scripts, SQL data generators, Python load tests)."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.load_tests import Destination, UNIFORM_DRAWS, is_load_test, key_sinks, pareto_fix
from pglint.kit.sql_tokens import matching_paren, tokens_of
from pglint.roles import APPLICATION, LOAD_TEST, SCRIPT
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.lexer import Comment
from pglint.sql.parse import Statement, iter_nodes

ZIPF_SKEW = "1.07"  # pgbench's documented example; s must lie in [1.001, 1000] from pgbench 12
EXPONENTIAL_SKEW = "3.0"
_SET = re.compile(r"\\set\s+(\w+)\s+")
_UNIFORM_CALL = re.compile(r"\brandom\s*\(")
# A trailing comment on a meta-command that pgbench reads word by word or as an expression.
_TRAILING_COMMENT = re.compile(r"[ \t]+--")
_COMMENTABLE = re.compile(r"\\(?:set|sleep)\b")
_INT_TYPES = {"int", "int2", "int4", "int8", "integer", "bigint", "smallint"}
_ROUNDING = {"floor", "ceil", "ceiling", "round", "trunc"}
_KEY_NAME = re.compile(r"(?:^|_)(?:id|key)$")

_BENCH = ("\\set aid random(1, 100000 * :scale)\n"
          "BEGIN;\n"
          "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n"
          "END;\n")
_PGBENCH = "pgbench script"
_PARETO_KEY = ("def pareto_key(low: int, high: int) -> int:\n"
               "    \"\"\"A key in [low, high], Pareto-distributed: a few low keys take most "
               "draws.\"\"\"\n"
               "    return low + int(secrets.SystemRandom().paretovariate(1.2) - 1) "
               "% (high - low + 1)\n")


class UniformRandomLoad(Rule):
    """
    ## What it does
    Flags load tests that pick keys uniformly at random:

    - in pgbench scripts, a `\\set var random(lb, ub)` whose variable later picks rows by
      equality (`WHERE aid = :aid`); and a trailing `-- comment` on a `\\set` or `\\sleep`
      meta-command, which pgbench rejects (`\\set aid random(1, 100)  -- Only 100 accounts`
      does not run);
    - in SQL data generators and test queries, a key drawn as `(random() * n)::int`,
      `floor(random() * n)` or `random(lb, ub)` (PostgreSQL 17+): compared by equality
      (`WHERE user_id = (random() * 1000000)::int`) or inserted into a key column (`id`,
      `*_id`, `*_key`) by an `INSERT ... SELECT`.

    Skewed draws stay silent: pgbench's `random_zipfian`, `random_exponential`,
    `random_gaussian`, and SQL such as `CASE WHEN random() < 0.5 THEN 1 ELSE ... END` or
    `floor(n * power(random(), 3))`.

    In Python load tests (a module that imports locust, a locust `HttpUser`/`User`/`TaskSet`
    class, or a file named `locustfile.py`, `*load*test*.py` or `bench*.py`), flags keys drawn
    with `random.randint`, `random.randrange`, `random.choice(range(...))` or
    `numpy.random.randint` that reach a request URL path (`self.client.get(f"/users/{uid}")`),
    a request parameter or JSON field named like a key (`id`, `*_id`, `key`, `pk`, `sku`), an
    SQL parameter (`cur.execute(sql, (uid,))`) or a Django lookup by key: directly, through
    string building and variables of the same function, or as a helper function's return
    value. The same draws in application code, think times (`time.sleep(random.randint(1,
    3))`) and parameters that are not keys (`page`, `quantity`) stay silent.

    ## Why is this bad?
    Production traffic is skewed: a few accounts, products or users take most of the writes.
    A uniform draw spreads the load evenly over the key space, so concurrent transactions almost
    never touch the same row: the test shows no lock waits, no hot pages and a cache hit ratio
    that production will not have, and the contention the test was meant to find stays hidden.
    A narrow uniform range (`random(1, 100)`) concentrates load, but still spreads it evenly,
    unlike the one or two very hot keys of real traffic.

    ## Example
    ```
    \\set aid random(1, 100000 * :scale)
    UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;
    ```

    ## Use instead
    ```
    -- Zipf-distributed keys: a few very hot accounts, a long tail
    \\set aid random_zipfian(1, 100000 * :scale, 1.07)
    UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;
    ```
    Skewed draws cluster on the low keys; from pgbench 14, `permute()` scatters the hot keys
    over the key space (`\\set k 1 + permute(:r, :size)`). In SQL generators, draw
    `floor(n * power(random(), 3))::int` (a power-law skew) or mix hot and cold ranges with
    `CASE WHEN random() < 0.8 THEN ... ELSE ... END`.

    In Python, a Pareto draw over the same keys:
    ```python
    import secrets


    def pareto_key(low: int, high: int) -> int:
        # A key in [low, high], Pareto-distributed: a few low keys take most draws.
        return low + int(secrets.SystemRandom().paretovariate(1.2) - 1) % (high - low + 1)


    user_id = pareto_key(1, 100000)  # instead of random.randint(1, 100000)
    ```

    ## Fix safety
    The pgbench fix is unsafe: it changes the distribution the benchmark measures. It turns
    `random(lb, ub)` into `random_zipfian(lb, ub, 1.07)` when the target version is 12 or later
    (what matters is the pgbench binary's version: the skew parameter must lie in [1.001, 1000]
    from pgbench 12), else into `random_exponential(lb, ub, 3.0)`. Moving a trailing comment to
    its own line above the meta-command is safe. SQL generators get a display fix only.

    The Python fix is unsafe too (the load test measures something else): it adds a
    `pareto_key(low, high)` helper after the imports and calls it with the draw's own bounds
    (`randrange`/`numpy.random.randint` upper bounds are exclusive, so `high - 1`). The key stays
    in range exactly: a Pareto variate (alpha 1.2, close to the 80/20 rule) is at least 1, and
    the modulo wraps the rare draws past `high` back onto the key range (onto the already hot
    low keys) instead of piling them up on `high` as clipping with `min()` would. It draws
    through `secrets.SystemRandom()` so that no security linter objects: ruff S311 and bandit
    B311 flag `random.randint`, `choice`, `uniform` and the like (not `paretovariate` today),
    and stricter checkers flag every function of the `random` module. An import of `random`
    or `numpy` that the draw was the last use of is removed. Draws with a step or a `size` are
    shown only.
    """

    code = "PGL401"
    name = "uniform-random-load"
    summary = "Load test keys drawn uniformly at random: hides production's hot-key contention"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories: fixture data "
        "generators look like load tests"
    )
    references = (
        "https://www.postgresql.org/docs/current/pgbench.html",
    )
    statements = ("InsertStmt",)
    nodes = ("A_Expr",)
    text_hint = "random("  # random() and random(lb, ub); not gen_random_uuid()
    file_kinds = frozenset({"pgbench", "sql"})
    # Load tests, and the data generators beside them; not regression tests, whose fixture
    # data is uniform on purpose.
    roles = frozenset({LOAD_TEST, APPLICATION, SCRIPT})
    python_nodes = (ast.Call,)
    python_hint = (("randint(", "randrange(", "choice(range("),)

    VALID = (
        Example("\\set aid random_zipfian(1, 100000 * :scale, 1.07)\n"
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n",
                kind="pgbench"),
        # A uniform draw that picks no row (an amount), and a comment on its own line.
        Example("-- amounts are uniform; accounts are not\n"
                "\\set delta random(-5000, 5000)\n"
                "\\set aid random_exponential(1, 100000, 3.0)\n"
                "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n",
                kind="pgbench"),
        # The chapter's skewed CASE form (40.4.2 "RIGHT").
        Example("SELECT * FROM events\n"
                "WHERE user_id = CASE WHEN random() < 0.5 THEN 1 ELSE (random()*100000)::int END;",
                kind="sql"),
        # The chapter's 40.4.1 generator: hot users and a long tail.
        Example("WITH user_skew AS (\n"
                "    SELECT CASE WHEN random() < 0.8 THEN (random() * 1000)::int\n"
                "                ELSE (random() * 50000 + 1000)::int END AS user_id\n"
                "    FROM generate_series(1, 1000000)\n"
                ")\n"
                "INSERT INTO events (user_id, created_at)\n"
                "SELECT user_id, now() - (random() * interval '30 days') FROM user_skew;",
                kind="sql"),
        # A power-law draw; a uniform value in a column that is not a key.
        Example("INSERT INTO orders (customer_id, amount)\n"
                "SELECT floor(100000 * power(random(), 3))::int, (random() * 500)::int\n"
                "FROM generate_series(1, 1000);", kind="sql"),
        # Python: uniform draws that pick no key (think time, page, quantity) in a locustfile.
        Example("import random\nimport time\n\nfrom locust import HttpUser, task\n\n\n"
                "class Browser(HttpUser):\n"
                "    @task\n"
                "    def browse(self):\n"
                "        time.sleep(random.randint(1, 3))\n"
                "        self.client.get(\"/products\", params={\"page\": random.randint(1, 5)})\n"
                "        self.client.post(\"/cart\", json={\"quantity\": random.randint(1, 4)})\n",
                kind="python"),
        # Application code is not a load test.
        Example("import random\n\n\ndef sample_order(cur):\n"
                "    cur.execute(\"SELECT * FROM orders WHERE id = %s\", "
                "(random.randint(1, 1000),))\n", kind="python"),
    )
    INVALID = (
        # Python: a locust user picking products uniformly.
        Example("import random\n\nfrom locust import HttpUser, task\n\n\n"
                "class Shopper(HttpUser):\n"
                "    @task\n"
                "    def view_product(self):\n"
                "        product_id = random.randint(1, 100000)\n"
                "        self.client.get(f\"/products/{product_id}\")\n",
                fixed="import secrets\n\nfrom locust import HttpUser, task\n\n\n"
                      + _PARETO_KEY + "\n\n"
                      "class Shopper(HttpUser):\n"
                      "    @task\n"
                      "    def view_product(self):\n"
                      "        product_id = pareto_key(1, 100000)\n"
                      "        self.client.get(f\"/products/{product_id}\")\n",
                kind="python"),
        # A helper's return value as an SQL parameter; `random` stays for the think time.
        Example("import random\nimport time\n\nfrom locust import User, task\n\n\n"
                "def account():\n"
                "    return random.choice(range(1, 50001))\n\n\n"
                "class Teller(User):\n"
                "    @task\n"
                "    def deposit(self):\n"
                "        with self.environment.pool.connection() as conn:\n"
                "            conn.execute(\"UPDATE accounts SET balance = balance + 1 "
                "WHERE id = %s\", (account(),))\n"
                "        time.sleep(random.random())\n",
                fixed="import random\nimport secrets\nimport time\n\n"
                      "from locust import User, task\n\n\n" + _PARETO_KEY + "\n\n"
                      "def account():\n"
                      "    return pareto_key(1, 50000)\n\n\n"
                      "class Teller(User):\n"
                      "    @task\n"
                      "    def deposit(self):\n"
                      "        with self.environment.pool.connection() as conn:\n"
                      "            conn.execute(\"UPDATE accounts SET balance = balance + 1 "
                      "WHERE id = %s\", (account(),))\n"
                      "        time.sleep(random.random())\n", kind="python"),
        # numpy's exclusive upper bound, into a query parameter named like a key.
        Example("import numpy as np\nfrom locust import HttpUser, task\n\n\n"
                "class Reader(HttpUser):\n"
                "    @task\n"
                "    def read(self):\n"
                "        self.client.get(\"/orders\", params={\"customer_id\": "
                "np.random.randint(1, 5000)})\n",
                fixed="import secrets\n\nfrom locust import HttpUser, task\n\n\n"
                      + _PARETO_KEY + "\n\n"
                      "class Reader(HttpUser):\n"
                      "    @task\n"
                      "    def read(self):\n"
                      "        self.client.get(\"/orders\", params={\"customer_id\": "
                      "pareto_key(1, 4999)})\n", kind="python"),
        Example(_BENCH,
                fixed="\\set aid random_zipfian(1, 100000 * :scale, 1.07)\n" + _BENCH.split("\n", 1)[1],
                kind="pgbench", not_executable=_PGBENCH),
        # The chapter's hotspot script: uniform keys and a trailing comment pgbench rejects.
        Example("\\set aid random(1, 100)  -- Only 100 accounts (high contention)\n"
                "BEGIN;\n"
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n"
                "END;\n",
                fixed="-- Only 100 accounts (high contention)\n"
                "\\set aid random_zipfian(1, 100, 1.07)\n"
                "BEGIN;\n"
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n"
                "END;\n",
                kind="pgbench", not_executable=_PGBENCH),
        # Before pgbench 12: an exponential draw; a select by key.
        Example("\\set uid random(1, 50000)\nSELECT * FROM users WHERE id = :uid;\n",
                fixed="\\set uid random_exponential(1, 50000, 3.0)\n"
                "SELECT * FROM users WHERE id = :uid;\n",
                kind="pgbench", target_version=11, not_executable=_PGBENCH),
        # A trailing comment alone (on \sleep); indentation kept.
        Example("  \\sleep 10 ms -- think time\nSELECT 1;\n",
                fixed="  -- think time\n  \\sleep 10 ms\nSELECT 1;\n",
                kind="pgbench", not_executable=_PGBENCH),
        # The chapter's 40.4.2 "WRONG" line.
        Example("SELECT * FROM events WHERE user_id = (random() * 1000000)::int;", kind="sql"),
        # A uniform generator over generate_series.
        Example("INSERT INTO orders (customer_id, amount)\n"
                "SELECT floor(random() * 100000)::int + 1, 10\n"
                "FROM generate_series(1, 1000000);", kind="sql"),
    )

    # -- Python load tests --------------------------------------------------------------------

    def check_python(self, node: ast.Call, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        name = code.call_name(node)
        style = UNIFORM_DRAWS.get(name or "")
        if style is None:
            return
        if style == "range":
            first = node.args[0] if node.args else node.keywords[0] if node.keywords else None
            first = first.value if isinstance(first, (ast.Starred, ast.keyword)) else first
            if not (isinstance(first, ast.Call) and code.call_name(first) == "range"):
                return
        if not is_load_test(ctx, code, node):
            return
        sinks = key_sinks(code, node, Destination())
        if not sinks:
            return
        kind, _, where = sinks[0]
        label = f"`{where.var}`" if where.var else "key"
        what = {"url": f"the {label} of a request URL", "sql": f"the {label} of an SQL query",
                "params": f"the `{where.name or where.var}` request parameter",
                "orm": f"the `{where.name}` lookup"}[kind]
        short = code.code(node.func).strip()
        message = (f"`{short}()` picks {what} uniformly, so the load test misses production's "
                   "hot keys")
        help = ("Production traffic is skewed: a few users, products or accounts take most of "
                "the requests. A uniform draw spreads the load evenly over the key space, so "
                "concurrent requests rarely meet on a row or a page and the test shows none of "
                "the lock waits, hot pages and cache behaviour production will have. Draw keys "
                "from a skewed distribution (Pareto, Zipf); the low keys are then the hot ones, "
                "so scatter them (a fixed permutation) if their physical placement matters. "
                "The suggested draw goes through `secrets.SystemRandom()`, which security "
                "linters (ruff S311, bandit B311) accept; numpy's `default_rng().zipf()` is "
                "another skewed source.")
        fix, helper = pareto_fix(code, node, style)
        if fix is None:
            fix = Fix.display("Draw keys from a Pareto distribution",
                              helper + "\n# and call pareto_key(low, high) with the draw's "
                              "inclusive bounds")
        yield self.finding(ctx, message, fix, help, node=node)

    # -- SQL: `key = (random() * n)::int` and INSERT ... SELECT generators --------------------

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if stmt.body is node and stmt.kind == "InsertStmt":
            if "random" in ctx.text[stmt.start:stmt.end].lower():
                yield from self._generator(node, ctx, stmt)
            return
        if node.get("kind") != "AEXPR_OP" or n.operator(node) != "=":
            return
        for column_side, value in (("lexpr", node.get("rexpr")), ("rexpr", node.get("lexpr"))):
            column = n.column_ref(node.get(column_side))
            draw = _uniform(value)
            if column and draw is not None:
                yield self._sql_finding(ctx, stmt, value, draw, column, where=True)
                return

    def _generator(self, node: dict[str, Any], ctx: FileContext,
                   stmt: Statement) -> Iterable[Finding]:
        cols = [t["ResTarget"].get("name", "") for t in node.get("cols") or () if "ResTarget" in t]
        direct = (node.get("selectStmt") or {}).get("SelectStmt")
        for kind, select in iter_nodes(stmt.node):
            if kind != "SelectStmt":
                continue
            for i, target in enumerate(select.get("targetList") or ()):
                res = target.get("ResTarget", {})
                # The INSERT's own SELECT fills the listed columns; a CTE's names its outputs.
                name = cols[i] if select is direct and i < len(cols) else res.get("name") or ""
                draw = _uniform(res.get("val"))
                if draw is not None and _KEY_NAME.search(name.lower()):
                    yield self._sql_finding(ctx, stmt, res["val"], draw, name, where=False)

    def _sql_finding(self, ctx: FileContext, stmt: Statement, value: dict[str, Any],
                     draw: tuple[dict[str, Any] | None, list[dict[str, Any]]], column: str,
                     where: bool) -> Finding:
        start, end = _span(ctx, stmt, value)
        scale_node, offsets = draw
        scale = _text(ctx, stmt, scale_node) if scale_node is not None else "n"
        skewed = f"floor({scale} * power(random(), 3))::int"
        for offset in offsets:
            skewed = f"{_text(ctx, stmt, offset)} + {skewed}"
        if where:
            message = (f"`{column}` is compared with a uniformly random key: every key is equally "
                       "likely, so the test hides production's hot keys")
            suggestion = (f"-- power-law skew, drawn once per query (a scalar subquery):\n"
                          f"{column} = (SELECT {skewed})\n"
                          f"-- or hot and cold keys mixed:\n"
                          f"{column} = (SELECT CASE WHEN random() < 0.5 THEN 1 "
                          f"ELSE {ctx.text[start:end]} END)")
            extra = (" In a WHERE clause random() is volatile: it is evaluated for every row "
                     "compared, so the query matches rows against different keys and cannot use "
                     "an index on the column; draw the key once, in a scalar subquery "
                     "(`(SELECT ...)`) or as a pgbench variable.")
        else:
            message = (f"Generated `{column}` keys are uniformly random: real traffic is skewed, "
                       "so the data hides production's hot keys")
            suggestion = (f"-- power-law skew: low keys are hot, a long tail of cold ones\n"
                          f"{skewed}\n"
                          f"-- or hot and cold ranges mixed, as in production:\n"
                          f"CASE WHEN random() < 0.8 THEN (random() * 0.2 * {scale})::int "
                          f"ELSE {ctx.text[start:end]} END")
            extra = ""
        help = ("Production traffic is skewed: a few keys take most of the reads and writes. A "
                "uniform draw spreads the load evenly, so concurrent transactions rarely meet on "
                "a row or a page and the test shows none of the lock waits, hot pages and cache "
                "behaviour production will have." + extra)
        fix = Fix.display("Draw skewed keys", suggestion)
        return self.finding(ctx, message, fix, help, span=(start, end))

    # -- pgbench scripts ----------------------------------------------------------------------

    def check_file(self, ctx: FileContext) -> Iterable[Finding]:
        if ctx.kind != "pgbench":
            return
        commands = ctx.parsed.meta_commands
        for command in commands:
            if _COMMENTABLE.match(command.text):
                comment = _TRAILING_COMMENT.search(command.text)
                if comment is not None:
                    yield self._trailing_comment(ctx, command, comment)
            found = _SET.match(command.text)
            call = _UNIFORM_CALL.search(command.text, found.end()) if found else None
            if found is None or call is None:
                continue
            var = found.group(1)
            key = _key_use(ctx, command, var)
            if key is None:
                continue
            yield self._uniform_set(ctx, command, call, var, key)

    def _trailing_comment(self, ctx: FileContext, command: Comment, match: re.Match) -> Finding:
        ws = command.start + match.start()
        dash = command.start + match.end() - 2
        comment = ctx.text[dash:command.end].rstrip()
        line = ctx.line_start(command.start)
        indent = ctx.indent_of(command.start)
        fix = Fix("Move the comment to its own line above the meta-command", Applicability.SAFE,
                  (Edit.insert(line, f"{indent}{comment}\n"), Edit.delete(ws, command.end)))
        word = command.text.split()[0]
        return self.finding(
            ctx,
            f"pgbench rejects this trailing comment: a `{word}` meta-command takes no `--` comment",
            fix,
            "pgbench reads the rest of a `\\set` line as the expression and the rest of a "
            "`\\sleep` line as its arguments, so a trailing `-- ...` is a syntax error "
            '("unexpected function name", "too many arguments") and the script does not run. '
            "Comments go on their own line.",
            span=(dash, command.end),
        )

    def _uniform_set(self, ctx: FileContext, command: Comment, call: re.Match, var: str,
                     key: tuple[str, int]) -> Finding:
        name_start = command.start + call.start()
        open_paren = command.start + call.end() - 1
        close = _closing_paren(ctx.text, open_paren, command.end)
        zipf = ctx.settings.target_version >= 12
        function, skew = ("random_zipfian", ZIPF_SKEW) if zipf else \
            ("random_exponential", EXPONENTIAL_SKEW)
        column, _ = key
        span_end = close + 1 if close is not None else command.end
        message = (f"`:{var}` picks `{column}` keys uniformly (`random()`): every key is equally "
                   "hot, so the load test hides production's hot-key contention")
        permute = ("From pgbench 14, `permute()` scatters the hot keys over the key space "
                   "instead of the lowest ones: `\\set r random_zipfian(1, :size, 1.07)` then "
                   "`\\set k 1 + permute(:r, :size)`.")
        help = ("pgbench's `random(lb, ub)` is uniform: concurrent clients rarely meet on a row, "
                "so the run shows no lock waits or hot pages while production, where a few keys "
                "take most of the traffic, will. A narrow uniform range concentrates load but "
                "still spreads it evenly. `random_zipfian(lb, ub, s)` (s in [1.001, 1000] from "
                "pgbench 12) and `random_exponential(lb, ub, param)` skew the draw towards the "
                "low keys; the pgbench binary's version matters here, not the server's. "
                + permute)
        if close is None:
            return self.finding(
                ctx,
                message,
                Fix.display("Draw skewed keys", f"\\set {var} {function}(lb, ub, {skew})"),
                help,
                span=(name_start, span_end),
            )
        fix = Fix(f"Draw keys with `{function}`", Applicability.UNSAFE,
                  (Edit(name_start, name_start + len("random"), function),
                   Edit.insert(close, f", {skew}")),
                  suggestion=f"\\set {var} {function}(...)")
        return self.finding(ctx, message, fix, help, span=(name_start, span_end))


# -- helpers ---------------------------------------------------------------------------------

def _strip_casts(node: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """The node under its casts, and whether one of them is to an integer type."""
    to_int = False
    while node and "TypeCast" in node:
        to_int = to_int or n.type_name(node["TypeCast"].get("typeName")).split(".")[-1] in _INT_TYPES
        node = node["TypeCast"].get("arg")
    return node, to_int


def _is_random(node: dict[str, Any] | None) -> bool:
    return bool(node) and "FuncCall" in node and n.func_name(node["FuncCall"]) == "random" \
        and not node["FuncCall"].get("args")


def _has_random(node: Any) -> bool:
    return any(name == "random" for name, _ in n.calls(node))


def _scaled(node: dict[str, Any] | None
            ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]] | None:
    """`random() * n` (possibly `+ offset`): (n, offsets), else None."""
    node, _ = _strip_casts(node)
    expr = (node or {}).get("A_Expr")
    if not expr or expr.get("kind") != "AEXPR_OP":
        return None
    op, left, right = n.operator(expr), expr.get("lexpr"), expr.get("rexpr")
    if op == "*":
        if _is_random(left) and not _has_random(right):
            return right, []
        if _is_random(right) and not _has_random(left):
            return left, []
        return None
    if op == "+":
        for inner, other in ((left, right), (right, left)):
            found = _scaled(inner)
            if found is not None and other is not None and not _has_random(other):
                return found[0], found[1] + [other]
    return None


def _uniform(node: dict[str, Any] | None
             ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]] | None:
    """A uniformly drawn integer: (scale, offsets), or None. CASE mixes are not uniform."""
    inner, to_int = _strip_casts(node)
    if not inner:
        return None
    if "FuncCall" in inner:
        call = inner["FuncCall"]
        name = n.func_name(call)
        args = call.get("args") or ()
        if name == "random" and len(args) == 2:  # random(min, max), PostgreSQL 17
            return args[1], []
        if name in _ROUNDING and args:
            return _scaled(args[0])
        return None
    expr = inner.get("A_Expr")
    if expr and expr.get("kind") == "AEXPR_OP" and n.operator(expr) == "+":
        for part, other in ((expr.get("lexpr"), expr.get("rexpr")),
                            (expr.get("rexpr"), expr.get("lexpr"))):
            found = _uniform(part)
            if found is not None and other is not None and not _has_random(other):
                return found[0], found[1] + [other]
    if to_int:
        return _scaled(inner)
    return None


def _span(ctx: FileContext, stmt: Statement, node: dict[str, Any]) -> tuple[int, int]:
    """File offsets of an expression: from its leftmost token to its last, closing parens."""
    locations = [loc for loc in _locations(node) if loc >= 0]
    if not locations:
        return stmt.start, stmt.end
    start, last = stmt.offset(min(locations)), stmt.offset(max(locations))
    tokens = ctx.code_tokens(stmt)
    # The expression may open with parentheses before its leftmost node.
    first = next(i for i, t in enumerate(tokens) if t.end > start)
    while first > 0 and tokens[first - 1].text == "(":
        first -= 1
    i = next((j for j, t in enumerate(tokens) if t.start >= last), len(tokens) - 1)
    balance = sum(1 if t.text == "(" else -1 if t.text == ")" else 0 for t in tokens[first:i + 1])
    while balance > 0 and i + 1 < len(tokens) and tokens[i + 1].text == ")":
        i += 1
        balance -= 1
    # A leading "(" that the expression does not close belongs to the context, not to it.
    while balance < 0 and tokens[first].text == "(":
        first += 1
        balance += 1
    while balance > 0 and tokens[first].text == "(":
        first += 1
        balance -= 1
    return tokens[first].start, tokens[i].end


def _locations(node: Any) -> Iterable[int]:
    """Every `location` under node, unwrapped parts included (a cast's TypeName is one)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("location"), int):
                yield item["location"]
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(item)


def _text(ctx: FileContext, stmt: Statement, node: dict[str, Any]) -> str:
    is_const, value = n.constant(node)
    if is_const and value is not None and not isinstance(value, str):
        return str(value)
    start, end = _span(ctx, stmt, node)
    return ctx.text[start:end]


def _closing_paren(text: str, open_paren: int, limit: int) -> int | None:
    """Offset of the `)` closing the `(` at text[open_paren], before `limit`."""
    tokens = tokens_of(text, open_paren, limit)
    close = matching_paren(tokens, 0) if tokens else None
    return tokens[close].start if close is not None else None


def _key_use(ctx: FileContext, command: Comment, var: str) -> tuple[str, int] | None:
    """(column, offset) of the first later `column = :var` comparison, if any."""
    needle = ":" + var
    for stmt in ctx.statements:
        if stmt.start < command.end:
            continue
        for kind, body in iter_nodes(stmt.node):
            if kind != "A_Expr" or body.get("kind") != "AEXPR_OP" or n.operator(body) != "=":
                continue
            for column_side, value_side in (("lexpr", "rexpr"), ("rexpr", "lexpr")):
                column = n.column_ref(body.get(column_side))
                value, _ = _strip_casts(body.get(value_side))
                if column and value and "ParamRef" in value:
                    at = stmt.offset(value["ParamRef"].get("location"))
                    after = ctx.text[at + len(needle):at + len(needle) + 1]
                    if ctx.text.startswith(needle, at) and not (after.isalnum() or after == "_"):
                        return column, at
    return None
