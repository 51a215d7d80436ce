"""Reading files: text out, or a clear problem with a location. Never an exception."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024  # larger files are reported, not read


@dataclass(frozen=True)
class LoadProblem:
    message: str
    line: int = 1
    column: int = 1


def read_text(path: Path) -> tuple[str | None, LoadProblem | None]:
    try:
        if path.is_dir():
            return None, LoadProblem("is a directory, not a file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, LoadProblem(f"file is {size // (1024 * 1024)} MiB, over the "
                                     f"{MAX_BYTES // (1024 * 1024)} MiB limit; not linted")
        data = path.read_bytes()
    except PermissionError:
        return None, LoadProblem("cannot read file: permission denied")
    except OSError as exc:
        return None, LoadProblem(f"cannot read file: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return None, LoadProblem("binary file (contains NUL bytes); not linted")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        declared = _python_encoding(path, data)
        if declared is not None:
            try:
                return data.decode(declared), None
            except (UnicodeDecodeError, LookupError):
                pass
        before = data[: exc.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        return None, LoadProblem(
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
            "re-encode it as UTF-8 to lint it", line, column)
    return text, None


# PEP 263: a Python file may declare its encoding on its first or second line.
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def _python_encoding(path: Path, data: bytes) -> str | None:
    """The encoding a .py file declares (other than UTF-8), or None."""
    if path.suffix != ".py":
        return None
    for line in data.splitlines()[:2]:
        match = _CODING.match(line)
        if match:
            name = match.group(1).decode("ascii", "replace").lower().replace("_", "-")
            return None if name in ("utf-8", "utf8") else name
    return None


def write_atomic(path: Path, text: str) -> None:
    """Replace the file's content all at once: a temporary file beside it, then a rename.
    A Python file keeps the encoding it declares."""
    tmp = path.with_name(f".{path.name}.pglint-{os.getpid()}.tmp")
    encoding = _python_encoding(path, text[:1000].encode("utf-8", "replace")) or "utf-8"
    try:
        with open(tmp, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
