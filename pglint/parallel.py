"""Forked workers that keep their share of the files for the whole run.

The project model is cross-file: every file's facts are needed before any rule can run. A large
run therefore goes in two phases. Each process (the parent included) parses its share of the
files and publishes only small facts (catalog operations, workload writes); every process then
builds the same model from all the facts, in share order, and runs the rules over the trees it
kept. Parsed trees never cross a process boundary (moving them costs more than parsing them),
and the model is never sent either: the facts are smaller, and the parent only forwards their
bytes. A worker that fails is replaced by the parent doing its share, so a crash costs time,
not results.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import threading
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
_HEADER = struct.Struct("!Q")


def available_cores() -> int:
    """Cores to use: PGLINT_JOBS if set (1 turns forking off), else those this process may use."""
    jobs = os.environ.get("PGLINT_JOBS", "").strip()
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


def _pickle(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def two_phase(shares: list[list[T]], first: Callable[[list[T]], tuple[Any, Any]],
              combine: Callable[[list[Any]], Any],
              second: Callable[[Any, Any], Any],
              dumps: Callable[[Any], bytes] = _pickle,
              loads: Callable[[bytes], Any] = pickle.loads) -> list[Any]:
    """`first(share) -> (kept, facts)` on every share; `combine(facts of all shares, in order)
    -> shared` in every process; `second(kept, shared) -> result` on every share. Returns the
    results in share order. Facts cross processes as `dumps(facts)` bytes, read back with
    `loads`; a process passes its own facts to `combine` as they are."""
    if len(shares) < 2 or not can_fork():
        firsts = [first(share) for share in shares]
        shared = combine([facts for _, facts in firsts])
        return [second(kept, shared) for kept, _ in firsts]
    workers: dict[int, _Worker] = {}
    for i in range(1, len(shares)):
        worker = _Worker.start(i, shares[i], len(shares), first, combine, second, dumps, loads)
        if worker is not None:
            workers[i] = worker
    kept: dict[int, Any] = {}
    local: dict[int, Any] = {}  # facts made in this process
    kept[0], local[0] = first(shares[0])
    blobs: list[bytes] = [b""] * len(shares)
    blobs[0] = dumps(local[0])
    for i in range(1, len(shares)):
        blob = workers[i].receive() if i in workers else None
        if blob is None:  # no worker, or it died: do its share here
            if i in workers:
                workers.pop(i).stop()
            kept[i], local[i] = first(shares[i])
            blob = dumps(local[i])
        blobs[i] = blob
    # Each worker gets every share's facts (its own included, to keep the framing simple);
    # a thread writes them while this process goes on.
    sender = threading.Thread(target=lambda: [w.send_all(blobs) for w in workers.values()])
    sender.start()
    shared = combine([local[i] if i in local else loads(blobs[i]) for i in range(len(shares))])
    results: list[Any] = [None] * len(shares)
    results[0] = second(kept[0], shared)
    for i in range(1, len(shares)):
        if i in kept:
            results[i] = second(kept[i], shared)
    sender.join()
    for i, worker in workers.items():
        blob = worker.receive()
        worker.stop()
        if blob is None:
            kept_here, _ = first(shares[i])
            results[i] = second(kept_here, shared)
        else:
            results[i] = pickle.loads(blob)
    return results


class _Worker:
    def __init__(self, pid: int, down: int, up: int) -> None:
        self.pid, self.down, self.up = pid, down, up

    @classmethod
    def start(cls, index: int, share: list, count: int, first: Callable, combine: Callable,
              second: Callable, dumps: Callable = _pickle,
              loads: Callable = pickle.loads) -> "_Worker | None":
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
                kept, facts = first(share)
                _send(up_w, dumps(facts))
                blobs = [_receive(down_r) for _ in range(count)]
                if any(b is None for b in blobs):
                    raise EOFError("the parent sent no facts")
                shared = combine([facts if i == index else loads(b)
                                  for i, b in enumerate(blobs)])
                _send(up_w, _pickle(second(kept, shared)))
            except BaseException:  # noqa: BLE001 - the parent redoes this share
                status = 1
            finally:
                os._exit(status)  # no exit handlers, no flushing of the parent's buffers
        os.close(down_r)
        os.close(up_w)
        return cls(pid, down_w, up_r)

    def receive(self) -> bytes | None:
        return _receive(self.up)

    def send_all(self, blobs: list[bytes]) -> None:
        try:
            for blob in blobs:
                _send(self.down, blob)
        except OSError:
            pass  # it died; receive() says so

    def stop(self) -> None:
        for fd in (self.down, self.up):
            try:
                os.close(fd)
            except OSError:
                pass
        # A worker that sent its results is done, but tearing down its memory takes the kernel
        # a while: reap it in the background rather than wait for it here.
        try:
            if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                threading.Thread(target=_reap, args=(self.pid,), daemon=True).start()
        except ChildProcessError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _send(fd: int, payload: bytes) -> None:
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _receive(fd: int) -> bytes | None:
    """One length-prefixed message, or None if the other side closed or died first."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    return _read_exactly(fd, _HEADER.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
