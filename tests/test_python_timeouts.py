"""Python forms of the timeout and load-test rules: detection corners the rules' embedded
examples do not show (import aliases, connection-string parsing, what hides parameters, file
names of load tests) and multi-pass fixes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pglint import engine
from pglint.config import parse_settings


def _settings(root: Path, code: str):
    return parse_settings({"select": [code]}).with_overrides(root=root)


def _lint(tmp_path: Path, code: str, text: str, name: str = "app/db.py") -> list:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    result = engine.lint([tmp_path], _settings(tmp_path, code))
    assert not result.internal_errors, result.internal_errors
    return [f for f in result.findings if f.code == code]


def _fix(tmp_path: Path, code: str, text: str, name: str = "app/db.py") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    result = engine.lint_and_fix([tmp_path], _settings(tmp_path, code), unsafe=True, write=False)
    assert not result.internal_errors, result.internal_errors
    for display, (_, after) in result.diffs.items():
        if Path(display).resolve() == path.resolve():
            return after
    return text


# -- PGL304 client-without-timeouts -------------------------------------------------------------

@pytest.mark.parametrize("source, what", [
    ("import psycopg2 as pg\n\nconn = pg.connect('dbname=shop')\n", "connect or statement"),
    (("from psycopg import AsyncConnection\n\n\nasync def f():\n"
     "    return await AsyncConnection.connect('dbname=shop', connect_timeout=5)\n"),
     "`statement_timeout`"),
    (("from asyncpg import create_pool\n\n\nasync def f():\n"
     "    return await create_pool('postgresql://db/shop')\n"), "`command_timeout`"),
    # key=value string with a quoted options value that is not a statement timeout
    (("import psycopg\n\npsycopg.connect(\"dbname=shop options='-c search_path=app'\", "
     "connect_timeout=3)\n"), "`statement_timeout`"),
    # a keyword overrides a connection string we cannot see
    ("import psycopg2\n\n\ndef f(dsn):\n    return psycopg2.connect(dsn, connect_timeout=0)\n",
     "`connect_timeout=0`"),
    # f-string placeholders in the host part hide nothing
    ("import psycopg\n\n\ndef f(host):\n    return psycopg.connect(f'postgresql://app@{host}/shop')\n",
     "connect or statement"),
    # asyncpg: milliseconds of statement_timeout against seconds of command_timeout
    (("import asyncpg\n\n\nasync def f(dsn):\n    return await asyncpg.connect(\n"
     "        dsn, command_timeout=30, server_settings={'statement_timeout': '30000'})\n"),
     "is not above"),
])
def test_client_without_timeouts_fires(tmp_path, source, what):
    [finding] = _lint(tmp_path, "PGL304", source)
    assert what in finding.message


@pytest.mark.parametrize("source", [
    # Parameters we cannot see: a variable DSN, **params, the PG* environment, an f-string
    # whose query or scheme is a placeholder, a connect hook.
    "import psycopg\n\n\ndef f(dsn):\n    return psycopg.connect(dsn)\n",
    "import psycopg2\n\n\ndef f(params):\n    return psycopg2.connect(**params)\n",
    "import psycopg\n\nconn = psycopg.connect()\nother = psycopg.connect(autocommit=True)\n",
    "import psycopg\n\n\ndef f(q):\n    return psycopg.connect(f'postgresql://db/shop?{q}')\n",
    "import psycopg\n\n\ndef f(base):\n    return psycopg.connect(f'{base} connect_timeout=3')\n",
    ("import asyncpg\n\n\nasync def f(setup):\n    return await asyncpg.create_pool('postgresql://db/x', "
    "init=setup)\n"),
    ("from psycopg_pool import ConnectionPool\n\npool = ConnectionPool('dbname=x', "
    "kwargs={'connect_timeout': 5}, configure=lambda c: None)\n"),
    # asyncpg: a server setting in the URL, a client-side limit alone, a client above the server.
    ("import asyncpg\n\n\nasync def f():\n    return await asyncpg.connect("
    "'postgresql://db/shop?statement_timeout=5000')\n"),
    "import asyncpg\n\n\nasync def f():\n    return await asyncpg.connect(command_timeout=10)\n",
    ("import asyncpg\n\n\nasync def f(dsn):\n    return await asyncpg.connect(\n"
    "        dsn, command_timeout=31, server_settings={'statement_timeout': '30000'})\n"),
    # URL-encoded options; a module-level constant; libpq's `--name=value` form.
    ("import psycopg\n\nURL = 'postgresql://db/x?connect_timeout=5&options=-c%20statement_timeout%3D5s'\n"
    "conn = psycopg.connect(URL)\n"),
    ("import psycopg2\n\nconn = psycopg2.connect(host='db', connect_timeout=5, "
    "options='--statement_timeout=5s')\n"),
    # The statement timeout is set with SQL (a connect hook, SET LOCAL per transaction).
    ("import psycopg\n\nconn = psycopg.connect('dbname=x connect_timeout=5')\n"
    "conn.execute(\"SET statement_timeout = '30s'\")\n"),
    # Disabled with 0: PGL302's finding, not this one.
    ("import psycopg\n\nconn = psycopg.connect('dbname=x connect_timeout=5 "
    "options=\\'-c statement_timeout=0\\'')\n"),
    # Other databases and drivers.
    "from sqlalchemy import create_engine\n\ne = create_engine('mysql+pymysql://u@h/db')\n",
    "from sqlalchemy import create_engine\n\ne = create_engine('postgresql+pg8000://u@h/db')\n",
    "DATABASES = {'default': {'ENGINE': 'django.db.backends.mysql', 'NAME': 'x'}}\n",
    # Django entries changed after the literal; not a settings module (inside a function).
    ("DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n"
    "DATABASES['default']['OPTIONS'] = LOCAL_OPTIONS\n"),
    ("def configure():\n"
    "    DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n"
    "    return DATABASES\n"),
    # A psycopg method that is not a connection (a name that only looks alike).
    "import socket\n\ns = socket.create_connection(('db', 5432))\n",
])
def test_client_without_timeouts_stays_silent(tmp_path, source):
    assert _lint(tmp_path, "PGL304", source) == []


def test_client_without_timeouts_skips_test_files(tmp_path):
    source = "import psycopg\n\nconn = psycopg.connect('dbname=test')\n"
    assert _lint(tmp_path, "PGL304", source, "tests/test_db.py") == []
    assert _lint(tmp_path, "PGL304", source, "app/conftest.py") == []


def test_client_without_timeouts_library_lets_the_caller_set_them(tmp_path):
    # Every connection parameter is the function's: the caller should give the limits too.
    source = ("import psycopg\n\n\n"
              "def connect(host, user):\n"
              "    return psycopg.connect(host=host, user=user)\n")
    [finding] = _lint(tmp_path, "PGL304", source)
    assert finding.message.endswith("and its caller cannot pass one")
    assert not finding.fix.applicable
    assert "connect_timeout=connect_timeout" in finding.fix.suggestion
    assert "options=options" in finding.fix.suggestion
    assert "30s" not in finding.fix.suggestion
    assert _fix(tmp_path, "PGL304", source) == source
    # One literal among them: the application chose where to connect, so it chooses limits.
    mixed = source.replace("host=host", "host='db'")
    [finding] = _lint(tmp_path, "PGL304", mixed)
    assert finding.fix.applicable and "connect_timeout=10" in finding.fix.suggestion


def test_client_without_timeouts_sqlalchemy_keys_tell_the_driver(tmp_path):
    source = ("from sqlalchemy.ext.asyncio import create_async_engine\n\n\n"
              "def make(url):\n"
              "    return create_async_engine(url, connect_args={\n"
              "        'command_timeout': 10, 'server_settings': {'statement_timeout': '20s'}})\n")
    [finding] = _lint(tmp_path, "PGL304", source)
    assert "(10 s) is not above `statement_timeout` (20 s)" in finding.message
    assert "'command_timeout': 25" in _fix(tmp_path, "PGL304", source)


def test_client_without_timeouts_fix_keeps_comments_and_layout(tmp_path):
    source = ("import psycopg\n\n\n"
              "def connect():\n"
              "    return psycopg.connect(\n"
              "        host='db',  # primary\n"
              "        dbname='shop'  # the shop\n"
              "    )\n")
    assert _fix(tmp_path, "PGL304", source) == (
        "import psycopg\n\n\n"
        "def connect():\n"
        "    return psycopg.connect(\n"
        "        host='db',  # primary\n"
        "        dbname='shop',  # the shop\n"
        "        connect_timeout=10,\n"
        "        options='-c statement_timeout=30s'\n"
        "    )\n")


def test_client_without_timeouts_django_existing_options(tmp_path):
    source = ("DATABASES = {\n"
              "    'default': {\n"
              "        'ENGINE': 'django.contrib.gis.db.backends.postgis',\n"
              "        'OPTIONS': {\n"
              "            'sslmode': 'require',  # always\n"
              "        },\n"
              "    },\n"
              "}\n")
    [finding] = _lint(tmp_path, "PGL304", source, "project/settings.py")
    assert finding.message.startswith("Database `default`")
    assert _fix(tmp_path, "PGL304", source, "project/settings.py") == (
        "DATABASES = {\n"
        "    'default': {\n"
        "        'ENGINE': 'django.contrib.gis.db.backends.postgis',\n"
        "        'OPTIONS': {\n"
        "            'sslmode': 'require',  # always\n"
        "            'connect_timeout': 10,\n"
        "            'options': '-c statement_timeout=30s',\n"
        "        },\n"
        "    },\n"
        "}\n")


# -- PGL302 disabled-timeout (connection options) ---------------------------------------------

@pytest.mark.parametrize("source, name", [
    ("import psycopg\n\nconn = psycopg.connect(\"dbname=x options='-c lock_timeout=0ms'\")\n",
     "lock_timeout"),
    (("from sqlalchemy import create_engine\n\n"
     "e = create_engine('postgresql://u@h/db?options=-c%20statement_timeout%3D0')\n"),
     "statement_timeout"),
    (("from sqlalchemy import create_engine\n\n"
     "e = create_engine('postgresql+asyncpg://u@h/db', connect_args={\n"
     "    'server_settings': {'idle_in_transaction_session_timeout': 0}})\n"),
     "idle_in_transaction_session_timeout"),
    (("import psycopg2\n\nconn = psycopg2.connect(host='db', "
     "options='--transaction_timeout=0s')\n"), "transaction_timeout"),
])
def test_disabled_timeout_in_connection_options(tmp_path, source, name):
    [finding] = _lint(tmp_path, "PGL302", source)
    assert finding.message.startswith(f"`{name}` is 0 in the connection options")
    assert re.search(r"(?:=|%3D|: ')(?:30s|60s|5s|5min)\b", finding.fix.suggestion)


@pytest.mark.parametrize("source", [
    "import psycopg\n\nconn = psycopg.connect(options='-c statement_timeout=10 -c work_mem=0')\n",
    "settings = {'statement_timeout': 0}\n",  # not connection options
    "import psycopg\n\nconn = psycopg.connect('dbname=x', options='-c statement_timeout=05s')\n",
])
def test_disabled_timeout_quiet_on_bounded_or_unrelated_values(tmp_path, source):
    found = _lint(tmp_path, "PGL302", source)
    assert [f for f in found if "0 in the connection options" in f.message] == []


def test_disabled_timeout_suggestion_keeps_the_rest_of_the_options(tmp_path):
    source = ("import psycopg\n\nconn = psycopg.connect(\"dbname=x options="
              "'-c statement_timeout=0 -c search_path=app'\")\n")
    [finding] = _lint(tmp_path, "PGL302", source)
    assert finding.fix.suggestion == ("\"dbname=x options='-c statement_timeout=30s "
                                      "-c search_path=app'\"")


# -- PGL401 uniform-random-load (Python load tests) -------------------------------------------

LOAD = ("import random\n\n\n"
        "def run(client):\n"
        "    client.get(f'/accounts/{random.randint(1, 1000)}')\n")


@pytest.mark.parametrize("name", ["loadtests/locustfile.py", "perf/orders_load_test.py",
                                  "bench_accounts.py"])
def test_uniform_load_file_names_mark_load_tests(tmp_path, name):
    assert len(_lint(tmp_path, "PGL401", LOAD, name)) == 1


def test_uniform_load_quiet_in_application_code(tmp_path):
    assert _lint(tmp_path, "PGL401", LOAD, "app/accounts.py") == []


@pytest.mark.parametrize("line, fires", [
    ("client.get('/accounts/' + str(random.randint(1, 1000)))", True),
    ("client.get('/accounts/{}'.format(random.randrange(1000)))", True),
    ("client.get(f'/accounts?id={random.randint(1, 9)}')", True),
    ("client.get(f'/accounts?page={random.randint(1, 9)}')", False),
    ("client.post('/cart', json={'sku': random.choice(range(1, 500))})", True),
    ("client.post('/cart', json={'quantity': random.randint(1, 5)})", False),
    ("cur.execute('SELECT * FROM accounts WHERE id = %s', (random.randint(1, 9),))", True),
    ("time.sleep(random.randint(1, 3))", False),
    ("print(random.randint(1, 3))", False),
    ("Account.objects.get(pk=random.randint(1, 9))", True),
    ("client.get(f'/accounts/{random.choice(ACCOUNTS)}')", False),  # not a range of keys
])
def test_uniform_load_sinks(tmp_path, line, fires):
    source = f"import random\nimport time\n\n\ndef run(client, cur):\n    {line}\n"
    found = _lint(tmp_path, "PGL401", source, "locustfile.py")
    assert bool(found) == fires, found


def test_uniform_load_through_variables(tmp_path):
    source = ("import random\n\n\n"
              "def run(client):\n"
              "    uid = random.randint(1, 1000)\n"
              "    url = f'/users/{uid}'\n"
              "    client.get(url, name='/users/[id]')\n")
    [finding] = _lint(tmp_path, "PGL401", source, "locustfile.py")
    assert "`uid` of a request URL" in finding.message


def test_uniform_load_fix_steps_and_sizes_are_display_only(tmp_path):
    source = ("import numpy as np\nimport random\n\n\n"
              "def run(client):\n"
              "    client.get(f'/a/{random.randrange(1, 100, 2)}')\n"
              "    client.get(f'/b/{np.random.randint(1, 100, size=1)[0]}')\n")
    found = _lint(tmp_path, "PGL401", source, "locustfile.py")
    assert len(found) == 1  # the numpy draw is subscripted: not a key on its own
    assert not found[0].fix.applicable


def test_uniform_load_fix_over_several_passes(tmp_path):
    source = ("from random import randint\n\n"
              "from locust import HttpUser, task\n\n\n"
              "class Shopper(HttpUser):\n"
              "    @task\n"
              "    def view(self):\n"
              "        self.client.get(f'/products/{randint(1, 10_000)}')\n\n"
              "    @task\n"
              "    def buy(self):\n"
              "        self.client.post('/orders', json={'product_id': randint(1, 10_000)})\n")
    fixed = _fix(tmp_path, "PGL401", source, "locustfile.py")
    assert fixed == (
        "import secrets\n\n"
        "from locust import HttpUser, task\n\n\n"
        "def pareto_key(low: int, high: int) -> int:\n"
        "    \"\"\"A key in [low, high], Pareto-distributed: a few low keys take most draws.\"\"\"\n"
        "    return low + int(secrets.SystemRandom().paretovariate(1.2) - 1) % (high - low + 1)\n"
        "\n\n"
        "class Shopper(HttpUser):\n"
        "    @task\n"
        "    def view(self):\n"
        "        self.client.get(f'/products/{pareto_key(1, 10_000)}')\n\n"
        "    @task\n"
        "    def buy(self):\n"
        "        self.client.post('/orders', json={'product_id': pareto_key(1, 10_000)})\n")
    compile(fixed, "locustfile.py", "exec")


def test_pareto_key_stays_in_range():
    namespace: dict = {}
    import secrets  # noqa: F401 - the helper's own import

    exec("import secrets\n"  # noqa: S102 - the helper the fix writes, run as written
         "def pareto_key(low: int, high: int) -> int:\n"
         "    return low + int(secrets.SystemRandom().paretovariate(1.2) - 1) "
         "% (high - low + 1)\n", namespace)
    draws = [namespace["pareto_key"](5, 14) for _ in range(5000)]
    assert min(draws) >= 5 and max(draws) <= 14
    assert draws.count(5) > len(draws) / 3  # skewed towards the low keys


def test_pgl401_fix_keeps_crlf_line_endings(tmp_path: Path) -> None:
    source = ("import random\n\nfrom locust import HttpUser, task\n\n\n"
              "class Shopper(HttpUser):\n"
              "    @task\n"
              "    def view_product(self):\n"
              "        product_id = random.randint(1, 100000)\n"
              "        self.client.get(f\"/products/{product_id}\")\n")
    lf = _fix(tmp_path / "lf", "PGL401", source, name="locustfile.py")
    crlf = _fix(tmp_path / "crlf", "PGL401", source.replace("\n", "\r\n"), name="locustfile.py")
    assert "pareto_key(1, 100000)" in lf
    assert crlf == lf.replace("\n", "\r\n")
    assert _fix(tmp_path / "again", "PGL401", crlf, name="locustfile.py") == crlf
