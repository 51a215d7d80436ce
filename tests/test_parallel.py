"""The two-phase forked run gives exactly the sequential run's findings, and survives a
worker that dies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pglint import engine, parallel
from pglint.config import Resolver
from pglint.registry import catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _run(monkeypatch, jobs: str, threshold: int):
    monkeypatch.setenv("PGLINT_JOBS", jobs)
    monkeypatch.setattr(engine, "PARALLEL_MIN_CHARS", threshold)
    result = engine.lint([FIXTURES], Resolver(default_root=FIXTURES, catalog=catalog()))
    assert not result.internal_errors
    return [(f.path, f.row, f.column, f.code, f.message, f.fix) for f in result.findings]


@pytest.mark.skipif(not parallel.can_fork(), reason="forking workers is Linux-only")
def test_forked_run_equals_sequential_run(monkeypatch):
    sequential = _run(monkeypatch, "1", 10**12)
    forked = _run(monkeypatch, "3", 0)
    assert forked == sequential
    assert sequential  # the fixtures have findings, so the comparison means something


@pytest.mark.skipif(not parallel.can_fork(), reason="forking workers is Linux-only")
def test_a_dying_worker_costs_time_not_results():
    parent = os.getpid()

    def first(share):
        if os.getpid() != parent and 2 in share:
            os._exit(3)  # the worker with item 2 dies before reporting
        return share, sum(share)

    def second(kept, total):
        if os.getpid() != parent and 4 in kept:
            raise RuntimeError("the worker with item 4 fails in the second phase")
        return [x * total for x in kept]

    shares = [[1], [2], [3, 4], [5]]
    results = parallel.two_phase(shares, first, lambda facts: sum(facts), second)
    assert results == [[15], [30], [45, 60], [75]]


@pytest.mark.skipif(not parallel.can_fork(), reason="forking workers is Linux-only")
def test_every_process_combines_all_facts_in_share_order():
    # Large facts cross the pipes in pieces; each worker must see the same combined value.
    shares = [[i] for i in range(4)]
    results = parallel.two_phase(
        shares, lambda share: (share, [share[0]] * 300_000),
        lambda facts: [f[0] for f in facts], lambda kept, order: (kept[0], order))
    assert results == [(i, [0, 1, 2, 3]) for i in range(4)]


def test_balanced_keeps_order_and_spreads_weight():
    items = list(range(10))
    parts = parallel.balanced(items, lambda x: x, 3)
    assert sorted(x for part in parts for x in part) == items
    assert all(part == sorted(part) for part in parts)
    totals = [sum(part) for part in parts]
    assert max(totals) - min(totals) <= 9
