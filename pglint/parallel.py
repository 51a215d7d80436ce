"""Forked workers that keep their share of the files for the whole run.

The project model is cross-file: every file's facts are needed before any rule can run. A large
run therefore goes in two phases. Each worker parses its share of the files and sends back only
small facts (catalog operations, workload writes); the parent builds the model from all of them
and sends it to every worker; each worker runs the rules over the trees it kept and returns its
findings. Parsed trees never cross a process boundary: moving them costs more than parsing them.
The parent works on a share too. A worker that fails is replaced by the parent doing its share,
so a crash costs time, not results.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
_FAILED = object()


def available_cores() -> int:
    """Cores to use: PGLINT_JOBS if set (1 turns forking off), else those this process may use."""
    jobs = os.environ.get("PGLINT_JOBS", "")
    if jobs.isdigit() and int(jobs) > 0:
        return int(jobs)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def balanced(items: Sequence[T], weight: Callable[[T], int], parts: int) -> list[list[T]]:
    """Split items into at most `parts` lists of about equal weight; each keeps items' order."""
    buckets: list[list[int]] = [[] for _ in range(parts)]
    totals = [0] * parts
    for i in sorted(range(len(items)), key=lambda i: weight(items[i]), reverse=True):
        k = totals.index(min(totals))
        buckets[k].append(i)
        totals[k] += weight(items[i])
    return [[items[i] for i in sorted(bucket)] for bucket in buckets if bucket]


def two_phase(shares: list[list[T]], first: Callable[[list[T]], tuple[Any, Any]],
              combine: Callable[[list[Any]], Any],
              second: Callable[[Any, Any], Any]) -> list[Any]:
    """`first(share) -> (kept, facts)` on every share; `combine(all facts) -> shared`;
    `second(kept, shared) -> result` on every share. Results in share order."""
    if len(shares) < 2 or not can_fork():
        firsts = [first(share) for share in shares]
        shared = combine([facts for _, facts in firsts])
        return [second(kept, shared) for kept, _ in firsts]
    workers: list[_Worker | None] = [_Worker.start(share, first, second) for share in shares[1:]]
    kept_here: dict[int, Any] = {}
    kept_here[0], facts0 = first(shares[0])
    facts = [facts0]
    for i, worker in enumerate(workers, 1):
        received = worker.receive() if worker is not None else _FAILED
        if received is _FAILED:
            if worker is not None:
                worker.stop()
            workers[i - 1] = None
            kept_here[i], received = first(shares[i])
        facts.append(received)
    shared = combine(facts)
    for worker in workers:
        if worker is not None:
            worker.send(shared)
    results = [second(kept_here[0], shared)]
    for i, worker in enumerate(workers, 1):
        result = worker.receive() if worker is not None else _FAILED
        if worker is not None:
            worker.stop()
        if result is _FAILED:
            if i not in kept_here:
                kept_here[i], _ = first(shares[i])
            result = second(kept_here[i], shared)
        results.append(result)
    return results


class _Worker:
    def __init__(self, pid: int, down, up) -> None:
        self.pid, self.down, self.up = pid, down, up

    @classmethod
    def start(cls, share: list, first: Callable, second: Callable) -> "_Worker | None":
        try:
            down_r, down_w = os.pipe()  # parent -> child
            up_r, up_w = os.pipe()  # child -> parent
            pid = os.fork()
        except OSError:
            return None  # no fork here: the parent does this share itself
        if pid == 0:
            os.close(down_w)
            os.close(up_r)
            status = 0
            try:
                with os.fdopen(up_w, "wb") as up, os.fdopen(down_r, "rb") as down:
                    kept, facts = first(share)
                    pickle.dump(facts, up, protocol=pickle.HIGHEST_PROTOCOL)
                    up.flush()
                    shared = pickle.load(down)
                    pickle.dump(second(kept, shared), up, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001 - the parent redoes this share
                status = 1
            finally:
                os._exit(status)  # no exit handlers, no flushing of the parent's buffers
        os.close(down_r)
        os.close(up_w)
        return cls(pid, os.fdopen(down_w, "wb"), os.fdopen(up_r, "rb"))

    def receive(self) -> Any:
        try:
            return pickle.load(self.up)
        except Exception:  # noqa: BLE001 - EOF or garbage: the worker died
            return _FAILED

    def send(self, value: Any) -> None:
        try:
            pickle.dump(value, self.down, protocol=pickle.HIGHEST_PROTOCOL)
            self.down.flush()
        except OSError:
            pass  # it died; receive() says so

    def stop(self) -> None:
        for handle in (self.down, self.up):
            try:
                handle.close()
            except OSError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
