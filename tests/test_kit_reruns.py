"""What PGL201 takes as evidence that an insert runs again after an attempt that may have
committed (pglint.kit.reruns): retry loops, retry decorators, queued tasks that are re-run, and
helpers they call; not a plain function, a task without retries or a worker loop."""

from __future__ import annotations

import ast

import pytest

from pglint.kit.reruns import rerun_reason
from pglint.python.pyfile import PythonFile


def _reason(source: str) -> str | None:
    code = PythonFile.parse(source)
    assert code is not None
    [call] = [c for c in code.nodes(ast.Call) if getattr(c.func, "attr", None) == "add"]
    return rerun_reason(code, call)


@pytest.mark.parametrize("source, expected", [
    ("import time\n\n\ndef f(s, row):\n    for attempt in range(3):\n        try:\n"
     "            s.add(row)\n            s.commit()\n            return\n"
     "        except OSError:\n            time.sleep(1)\n", "a retry loop"),
    ("from tenacity import retry\n\n\n@retry\ndef f(s, row):\n    s.add(row)\n",
     "tenacity's `@retry`"),
    ("import tenacity\n\n\n@tenacity.retry(stop=tenacity.stop_after_attempt(3))\n"
     "def f(s, row):\n    s.add(row)\n", "tenacity's `@retry`"),
    ("from tenacity import Retrying\n\n\ndef f(s, row):\n    for attempt in Retrying():\n"
     "        with attempt:\n            s.add(row)\n", "tenacity's `Retrying`"),
    ("import backoff\n\n\n@backoff.on_exception(backoff.expo, OSError)\ndef f(s, row):\n"
     "    s.add(row)\n", "backoff's retry decorator"),
    ("from celery import shared_task\n\n\n@shared_task(autoretry_for=(Exception,))\n"
     "def f(s, row):\n    s.add(row)\n", "a task with `autoretry_for`"),
    ("from app import celery\n\n\n@celery.task(acks_late=True)\ndef f(s, row):\n    s.add(row)\n",
     "a task with `acks_late=True` (redelivered after a crash)"),
    ("from app import celery\n\n\n@celery.task(bind=True)\ndef f(self, s, row):\n"
     "    s.add(row)\n    try:\n        notify(row)\n    except OSError as exc:\n"
     "        raise self.retry(exc=exc)\n", "a task that calls `self.retry()`"),
    ("import dramatiq\n\n\n@dramatiq.actor\ndef f(s, row):\n    s.add(row)\n",
     "a dramatiq actor (retried by default)"),
    # One level down: a helper of the module that the retried function calls.
    ("from tenacity import retry\n\n\ndef helper(s, row):\n    s.add(row)\n\n\n"
     "@retry\ndef f(s, row):\n    helper(s, row)\n",
     "tenacity's `@retry` (through `helper()`)"),
    ("from tenacity import retry\n\n\nclass Service:\n    def _store(self, s, row):\n"
     "        s.add(row)\n\n    @retry\n    def f(self, s, row):\n        self._store(s, row)\n",
     "tenacity's `@retry` (through `_store()`)"),
])
def test_code_that_runs_again(source: str, expected: str) -> None:
    assert _reason(source) == expected


@pytest.mark.parametrize("source", [
    # A request handler: a client may retry, nothing here does.
    "def view(request, s, row):\n    s.add(row)\n",
    # A task that is neither retried nor redelivered.
    "from celery import shared_task\n\n\n@shared_task\ndef f(s, row):\n    s.add(row)\n",
    "from app import celery\n\n\n@celery.task(bind=True, acks_late=False)\n"
    "def f(self, s, row):\n    s.add(row)\n",
    "import dramatiq\n\n\n@dramatiq.actor(max_retries=0)\ndef f(s, row):\n    s.add(row)\n",
    # A worker loop with no failed attempt to re-run, and a loop over rows.
    "import time\n\n\ndef f(s, rows):\n    while True:\n        s.add(rows.pop())\n"
    "        time.sleep(1)\n",
    "def f(s, rows):\n    for row in rows:\n        s.add(row)\n",
    # Another module's helper of the same name is not called here.
    "def helper(s, row):\n    s.add(row)\n",
])
def test_code_with_no_rerun_in_sight(source: str) -> None:
    assert _reason(source) is None
