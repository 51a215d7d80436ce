"""Reading files: text out, or a clear problem with a location. Never an exception."""

from __future__ import annotations

import codecs
import io
import os
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024  # larger files are reported, not read


@dataclass(frozen=True)
class LoadProblem:
    message: str
    line: int = 1
    column: int = 1


def read_text(path: Path) -> tuple[str | None, LoadProblem | None]:
    data, problem = read_bytes(path)
    if problem is not None:
        return None, problem
    text, _encoding, problem = decode(path, data)
    return text, problem


def read_bytes(path: Path, limit: int | None = None) -> tuple[bytes, LoadProblem | None]:
    """The bytes of a regular file, at most `limit` (MAX_BYTES) of them.

    Opened without blocking and checked on the open descriptor: a FIFO or a device named
    `x.sql` (or a symlink to one, such as /dev/zero) is reported, never read.
    """
    limit = MAX_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        return b"", LoadProblem("is a directory, not a file")
    except PermissionError:
        return b"", LoadProblem("cannot read file: permission denied")
    except OSError as exc:
        return b"", LoadProblem(f"cannot read file: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return b"", LoadProblem("is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            return b"", LoadProblem("not a regular file (a FIFO, socket or device); not linted")
        if st.st_size > limit:
            return b"", _too_large(st.st_size, limit)
        # Read one byte past the limit, whatever stat said: the file may grow meanwhile.
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        return b"", LoadProblem(f"cannot read file: {exc.strerror or exc}")
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        return b"", _too_large(len(data), limit)
    return data, None


def _too_large(size: int, limit: int) -> LoadProblem:
    return LoadProblem(f"file is {size // (1024 * 1024)} MiB, over the "
                       f"{limit // (1024 * 1024)} MiB limit; not linted")


def decode(path: Path, data: bytes) -> tuple[str | None, str, LoadProblem | None]:
    """(text, encoding to write it back in, problem). SQL is UTF-8; a Python file is read as
    Python reads it (PEP 263). A byte-order mark stays in the text as U+FEFF, so that writing
    the text back in the same encoding keeps it, and adds none where there was none."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Saved by an editor as UTF-16 (its NUL bytes are half of every ASCII character).
        return None, "utf-8", LoadProblem("UTF-16 text (a UTF-16 byte-order mark opens it): "
                                          "psql rejects it (invalid byte sequence for "
                                          "encoding \"UTF8\"); saved as UTF-8 it would run "
                                          "and be linted; not linted")
    if b"\x00" in data:
        # Anywhere, not only at the start: PostgreSQL's parser stops at a NUL, so the rest of
        # the file would go unread without a word.
        return None, "utf-8", LoadProblem("binary file (contains NUL bytes); not linted")
    declared = _python_encoding(path, data)
    if declared:
        try:
            return data.decode(declared), declared, None
        except (UnicodeDecodeError, LookupError):
            pass  # not in the encoding it declares after all: lint what UTF-8 gives
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        return None, "utf-8", _not_utf8(data, exc.start)


def _not_utf8(data: bytes, start: int) -> LoadProblem:
    before = data[:start].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return LoadProblem(f"file is not valid UTF-8 (byte 0x{data[start]:02x}); "
                       "re-encode it as UTF-8 to lint it", line, column)


def _python_encoding(path: Path, data: bytes) -> str | None:
    """The encoding a .py file declares (other than UTF-8), as tokenize finds it, or None."""
    if path.suffix != ".py":
        return None
    try:
        name, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # an unknown or contradictory declaration: CPython refuses the file
        return None
    name = codecs.lookup(name).name
    return None if name in ("utf-8", "utf-8-sig") else name
