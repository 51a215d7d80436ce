"""Applying fixes: non-overlapping edits against the original text, checked, then written
atomically.

A fixed file is written only when its text still compiles (Python) or parses no worse (SQL),
the file on disk is still what was linted, and it can be replaced without harm: a regular
file, not hard-linked (replacing it would split the link; writing in place would not be
atomic), writable, and inside the project when reached through a symlink. Each refusal is a
reason string; the caller reports `<path>: not fixed: <reason>`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pglint.finding import Applicability, Edit, Finding
from pglint.loader import decode, read_bytes
from pglint.paths import relative_to

# Temporary files: `.NAME.PID.XXXXXXXX.pglint.tmp` (the PID tells a later run whether the
# writer is gone); `.NAME.pglint-PID.tmp` is what older versions left.
TEMP_SUFFIX = ".pglint.tmp"
_STALE_TEMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.pglint\.tmp$|^\..+\.pglint-(\d+)\.tmp$")


def applicable(finding: Finding, unsafe: bool) -> bool:
    fix = finding.fix
    if fix is None or not fix.applicable:
        return False
    return fix.applicability is Applicability.SAFE or (
        unsafe and fix.applicability is Applicability.UNSAFE)


def apply_fixes(text: str, findings: list[Finding], unsafe: bool) -> tuple[str, list[Finding]]:
    """Apply the fixes that do not overlap an earlier one; return the new text and what was fixed.

    Fixes left out because they overlap are picked up by the caller's next pass.
    """
    chosen: list[Finding] = []
    taken: list[tuple[int, int]] = []
    isolated: set[str] = set()
    candidates = [f for f in findings if applicable(f, unsafe)]
    for finding in sorted(candidates, key=lambda f: (f.fix.edits[0].start, f.code)):
        fix = finding.fix
        span = (fix.edits[0].start, fix.edits[-1].end)
        if any(span[0] <= b and a <= span[1] for a, b in taken):
            continue
        if fix.isolation is not None:
            if fix.isolation in isolated:
                continue
            isolated.add(fix.isolation)
        taken.append(span)
        chosen.append(finding)
    edits: list[Edit] = sorted(e for f in chosen for e in f.fix.edits)
    newline = dominant_newline(text)
    pieces = []
    cursor = 0
    for edit in edits:
        pieces.append(text[cursor:edit.start])
        pieces.append(_with_newline(edit.content, newline))
        cursor = edit.end
    pieces.append(text[cursor:])
    return "".join(pieces), chosen


def fix_diff(text: str, finding: Finding) -> list[str]:
    """The diff lines (hunks with one line of context, no file header) of the finding's fix,
    applied alone: how reporters show a fix."""
    after, _ = apply_fixes(text, [finding], unsafe=True)
    return list(difflib.unified_diff(text.splitlines(), after.splitlines(), lineterm="", n=1))[2:]


def dominant_newline(text: str) -> str:
    """The line ending most of the text's lines use: rules write "\\n", a CRLF file keeps CRLF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf > text.count("\n") - crlf else "\n"


def _with_newline(content: str, newline: str) -> str:
    if newline == "\n" or "\n" not in content:
        return content
    return re.sub(r"(?<!\r)\n", newline, content)


def _lines(text: str) -> list[str]:
    """Lines as diff and patch count them: ended by "\\n" only (str.splitlines also splits
    at form feeds, \\r and U+2028, which would make hunks that do not apply)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def _diff_name(name: str) -> str:
    """A file name in a ---/+++ line as git writes it: C-quoted when it holds a quote, a
    backslash or a control character; followed by a tab when it holds a space, which tells
    GNU patch where the name ends."""
    if any(c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        escapes = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
        quoted = "".join(escapes.get(c) or (f"\\{ord(c):03o}" if ord(c) < 0x20 or ord(c) == 0x7F
                                            else c) for c in name)
        return f'"{quoted}"'
    return name + "\t" if " " in name else name


def unified_diff(path: str, before: str, after: str) -> str:
    """A diff of one file that `git apply` and `patch -p1` both accept."""
    hunks = list(difflib.unified_diff(_lines(before), _lines(after)))[2:]
    out = [f"--- {_diff_name('a/' + path)}\n", f"+++ {_diff_name('b/' + path)}\n"]
    for line in hunks:
        out.append(line)
        if not line.endswith("\n"):  # a side without the final newline
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def settle_fixes(changes: Iterable[tuple[Path, str, bool, str, str]], write: bool,
                 roots: Callable[[Path], Sequence[Path]],
                 ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Check, and with `write` write, each changed file: (path, display, is Python, before,
    after). Returns the diffs of the files fixed and why the others were not, by display path.
    `roots(path)` are the folders a symlinked file may lead into."""
    changes = [c for c in changes if c[3] != c[4]]
    if write:
        remove_stale_temps({path.parent for path, *_ in changes})
    diffs: dict[str, tuple[str, str]] = {}
    failures: dict[str, str] = {}
    for path, display, python, before, after in changes:
        reason = verify_fix(path, python, before, after)
        if reason is None and write:
            reason = write_fix(path, before, after, roots(path))
        if reason is None:
            diffs[display] = (before, after)
        else:
            failures[display] = reason
    return diffs, failures


def verify_fix(path: Path, python: bool, before: str, after: str) -> str | None:
    """Why the fixed text must not be written, or None: Python that no longer compiles, SQL
    with a statement PostgreSQL's parser now rejects."""
    if python:
        error = _compile_error(path, after)
        if error is not None and _compile_error(path, before) is None:
            return f"the fixed Python does not compile ({error})"
        return None
    from pglint.sql.parse import parse_sql

    old = parse_sql(before).errors
    new = parse_sql(after).errors
    if len(new) > len(old):
        known = {e.message for e in old}
        message = next((e.message for e in new if e.message not in known), new[0].message)
        return f"the fixed SQL no longer parses ({message})"
    return None


def _compile_error(path: Path, text: str) -> str | None:
    if text.startswith("\ufeff"):
        text = text[1:]  # CPython drops the byte-order mark before compiling
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings of the user's code are not ours
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            return f"line {exc.lineno}: {exc.msg}"
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            return str(exc) or type(exc).__name__
    return None


class _Changed(Exception):
    """The file changed on disk between the lint and the write."""


def write_fix(path: Path, before: str, after: str, roots: Sequence[Path]) -> str | None:
    """Replace the file's text `before` (what was linted) with `after`; why not, or None.

    `roots` are the folders a symlinked file's target must be in to be written through.
    """
    target, reason = _write_target(path, roots)
    if target is None:
        return reason
    try:
        st = os.stat(target)
    except OSError as exc:
        return f"cannot write: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_nlink > 1:
        return "hard-linked; not rewritten"
    # No write bit at all counts too: root may write anyway, but someone meant it read-only.
    if not os.access(target, os.W_OK) or not st.st_mode & 0o222:
        return "read-only file"
    data, problem = read_bytes(target)
    current, encoding, _ = decode(target, data) if problem is None else (None, "utf-8", None)
    if current != before:
        return "changed on disk since it was read; run pglint again"
    try:
        new = after.encode(encoding)
    except UnicodeEncodeError:
        return f"the fixed text cannot be written in the file's encoding ({encoding})"
    try:
        _replace(target, new, st, hashlib.blake2b(data).digest())
    except _Changed:
        return "changed on disk while it was being fixed; run pglint again"
    except OSError as exc:
        return f"cannot write: {exc.strerror or exc}"
    return None


def _write_target(path: Path, roots: Sequence[Path]) -> tuple[Path | None, str]:
    """The file to replace: the path itself, or the real file a symlink (of the file or a
    folder above it) leads to, when that is inside one of `roots`."""
    real = os.path.realpath(path)
    if real == os.path.abspath(path):
        return path, ""
    for root in roots:
        top = os.path.realpath(root)
        if real == top or relative_to(real, top) is not None:
            return Path(real), ""
    return None, f"a symlink to {real}, outside the project; not written through"


def _replace(target: Path, data: bytes, st: os.stat_result, digest: bytes) -> None:
    """Write `data` to a new temporary file beside `target` (created exclusively: a planted
    file or symlink of that name is never followed), give it the target's owner and mode,
    then rename it over the target if the target's bytes still hash to `digest`. The
    temporary file is removed on any failure, an interrupt included (pglint.interrupt)."""
    from pglint.interrupt import held

    tmp, replaced = None, False
    # A signal between creating the file and knowing its name would leave it behind: hold
    # signals until `tmp` is set; one that came meanwhile is raised at release(), below.
    with held() as signals:
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent,
                                       prefix=f".{target.name}.{os.getpid()}.",
                                       suffix=TEMP_SUFFIX)
            signals.release()
            _write_and_rename(target, fd, tmp, data, st, digest)
            replaced = True
        finally:
            if not replaced and tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def _write_and_rename(target: Path, fd: int, tmp: str, data: bytes, st: os.stat_result,
                      digest: bytes) -> None:
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        _copy_owner_and_mode(handle.fileno(), tmp, st)
        os.fsync(handle.fileno())
    again, problem = read_bytes(target)
    if problem is not None or hashlib.blake2b(again).digest() != digest:
        raise _Changed
    os.replace(tmp, target)


def _copy_owner_and_mode(fd: int, name: str, st: os.stat_result) -> None:
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:  # root can give the file back to its owner; others keep their own
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            pass
    # After chown, which clears setuid bits; on the descriptor, not the name, where there is
    # a way to.
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    else:
        os.chmod(name, stat.S_IMODE(st.st_mode))


def remove_stale_temps(folders: Iterable[Path]) -> None:
    """Remove the temporary files that a killed run left in `folders`: those whose writer's
    process is gone."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _STALE_TEMP.match(entry.name)
            if match is None or _alive(int(match.group(1) or match.group(2))):
                continue
            try:
                if entry.is_symlink() or entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # EPERM: it exists, as someone else's
        return True
    return True
