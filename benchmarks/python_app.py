"""pglint on a whole Python application, beside parsing every file with `ast` and libcst.

    python benchmarks/python_app.py PATH [--runs N]

PATH is an application's folder (for the corpus: `$PGLINT_CORPUS/<owner>+<name>`). The folder
is copied to a temporary directory first, so nothing in it is changed. In one run, alternating,
`--runs` times (medians reported), each in a fresh process:

  cold     `pglint check . --no-cache --select ALL`: every rule, nothing cached;
  compiled the same, with pglint's modules compiled to bytecode beforehand, as `pip install`
           does: a checkout run where Python may not write bytecode (PYTHONDONTWRITEBYTECODE)
           compiles every module of pglint on each run, a quarter of a second;
  ast      read every .py file and `ast.parse` it (the parse alone is timed);
  libcst   read every .py file and `libcst.parse_module` it (the parse alone is timed);
  edit     after a `pglint check --project FILE` that fills the cache (the commit before), the
           file is changed (a comment line appended) and the same command runs again, as a
           pre-commit hook does.

Peak memory is the pglint process's own maximum resident set (os.wait4). The targets printed
beside the ratios are the Python front end's: cold at least 8x faster than libcst, at most 3x
`ast`, peak memory at most 300 MB, the one-file edit at most 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import pglint_command, run_child  # noqa: E402 - benchmarks/ is not a package

_PARSE = """
import sys, time
from pathlib import Path
texts = [p.read_bytes() for p in sorted(Path(sys.argv[2]).rglob("*.py"))]
if sys.argv[1] == "libcst":
    import libcst
    parse = lambda b: libcst.parse_module(b.decode("utf-8", "replace"))
else:
    import ast
    parse = ast.parse
began = time.perf_counter()
for text in texts:
    try:
        parse(text)
    except Exception:
        pass
print(time.perf_counter() - began)
"""


def parse_seconds(parser: str, folder: Path) -> float:
    out = subprocess.run([sys.executable, "-c", _PARSE, parser, str(folder)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def compiled_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """`env` for a pglint whose modules are compiled: a copy of the package the benchmark
    imports, compiled (compileall writes bytecode whatever PYTHONDONTWRITEBYTECODE says), first
    on PYTHONPATH. The checkout itself is left as it is."""
    import pglint

    copy = tmp / "bytecode"
    shutil.copytree(Path(pglint.__file__).parent, copy / "pglint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(copy / "pglint")],
                   check=True, env=env)
    return dict(env, PYTHONPATH=os.pathsep.join(
        p for p in (str(copy), env.get("PYTHONPATH", "")) if p))


def edited_file(folder: Path) -> Path:
    """An application module (not a test, not a migration) to edit: the largest one."""
    def plain(path: Path) -> bool:
        parts = {p.lower() for p in path.relative_to(folder).parts}
        return not parts & {"tests", "test", "migrations", "versions"} and \
            not path.name.startswith("test_")
    files = [p for p in folder.rglob("*.py") if plain(p)]
    return max(files, key=lambda p: p.stat().st_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    if not args.path.is_dir():
        print(f"{args.path}: not a folder", file=sys.stderr)
        return 2
    pglint = pglint_command()
    env = dict(os.environ, NO_COLOR="1")
    env.pop("PGLINT_ALL_MIGRATIONS", None)
    with tempfile.TemporaryDirectory(prefix="pglint-bench-") as tmp:
        folder = Path(tmp) / "app"
        shutil.copytree(args.path, folder, symlinks=True)
        py_files = list(folder.rglob("*.py"))
        megabytes = sum(p.stat().st_size for p in py_files) / 1e6
        target = edited_file(folder)
        compiled = compiled_env(env, Path(tmp))
        cold, rss, ast_s, cst_s, edit, edit_rss = [], [], [], [], [], []
        warm, warm_rss = [], []  # cold, with pglint's bytecode compiled
        check = [*pglint, "check", ".", "--select", "ALL", "--exit-zero", "-q"]
        for run in range(args.runs):
            for times, peaks, child_env in ((cold, rss, env), (warm, warm_rss, compiled)):
                wall, peak, code, tail = run_child([*check, "--no-cache"], folder, child_env,
                                                   args.timeout)
                if code not in (0, 1):
                    print(f"pglint exited with {code}:\n{tail}", file=sys.stderr)
                    return 1
                times.append(wall)
                peaks.append(peak)
            ast_s.append(parse_seconds("ast", folder))
            cst_s.append(parse_seconds("libcst", folder))
            hook = [*pglint, "check", "--select", "ALL", "--exit-zero", "-q", "--project",
                    str(target.relative_to(folder))]
            run_child(hook, folder, env, args.timeout)  # the commit before: fills the cache
            with target.open("a", encoding="utf-8") as f:
                f.write(f"# edited {run}\n")
            wall, peak, code, tail = run_child(hook, folder, env, args.timeout)
            edit.append(wall)
            edit_rss.append(peak)
    med = statistics.median
    print(f"application: {args.path} ({len(py_files)} .py files, {megabytes:.1f} MB); "
          f"{args.runs} runs, medians")
    print(f"cold pglint check:       {med(cold):7.2f} s, peak {max(rss):.0f} MB")
    print(f"  its bytecode compiled: {med(warm):7.2f} s, peak {max(warm_rss):.0f} MB")
    print(f"ast.parse, every file:   {med(ast_s):7.2f} s")
    print(f"libcst, every file:      {med(cst_s):7.2f} s")
    print(f"one file edited, --project: {med(edit):.2f} s, peak {max(edit_rss):.0f} MB "
          f"({target.relative_to(folder)})")
    verdicts = [
        (f"libcst / cold = {med(cst_s) / med(cold):.1f}x", med(cst_s) / med(cold) >= 8, ">= 8x"),
        (f"  bytecode compiled: {med(cst_s) / med(warm):.1f}x", med(cst_s) / med(warm) >= 8,
         ">= 8x"),
        (f"cold / ast = {med(cold) / med(ast_s):.1f}x", med(cold) / med(ast_s) <= 3, "<= 3x"),
        (f"peak memory {max(rss):.0f} MB", max(rss) <= 300, "<= 300 MB"),
        (f"one-file edit {med(edit):.2f} s", med(edit) <= 1.5, "<= 1.5 s"),
    ]
    for text, ok, goal in verdicts:
        print(f"{text:32} target {goal:10} {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
