"""The package layout holds: the engine never reaches into rules or the rule kit, the kit never
reaches into rules, and rules see only the read-only side of the engine (what a rule is, the
finding model, the context, the SQL and Python readers, the project model), never the CLI,
the engine's stages, the fixer or the reporters. Imports anywhere in a module count, including
ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pglint"
# What rules and the kit may import from pglint (module prefixes).
RULE_FACING = ("pglint.rule", "pglint.roles", "pglint.finding", "pglint.context", "pglint.sql",
               "pglint.python", "pglint.model", "pglint.kit", "pglint.paths")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "pglint" or name.startswith("pglint.")}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_imports_respect_the_layout(path):
    module = _module(path)
    imports = _imports(path)
    if _within(module, "pglint.rules"):
        bad = {name for name in imports if not name.startswith(RULE_FACING)
               and not _within(name, "pglint.rules") and name != "pglint"}
        assert not bad, f"{module} (a rule) imports engine internals: {sorted(bad)}"
    elif _within(module, "pglint.kit"):
        bad = {name for name in imports if _within(name, "pglint.rules")
               or not name.startswith(RULE_FACING)}
        assert not bad, f"{module} (the rule kit) imports {sorted(bad)}"
    elif module != "pglint.registry":  # the registry finds the rules: its one job
        bad = {name for name in imports if _within(name, "pglint.rules")
               or _within(name, "pglint.kit")}
        assert not bad, f"{module} (the engine) imports rules or the kit: {sorted(bad)}"


def test_every_rule_module_sits_in_a_family_and_defines_one_rule():
    from pglint.registry import all_rules

    families = {"hotspots": "PGL1", "batches": "PGL2", "timeouts": "PGL3", "load_tests": "PGL4",
                "locks": "PGL5", "meta": "PGL9"}
    for rule in all_rules():
        parts = rule.__module__.split(".")
        assert parts[:2] == ["pglint", "rules"] and parts[2] in families, rule.__module__
        assert rule.code.startswith(families[parts[2]]), (rule.code, rule.__module__)
        assert parts[3].startswith(rule.code.lower() + "_"), (rule.code, rule.__module__)


MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
# A longer function says why in its docstring, in these words (the lexer's single loop).
LONG_ON_PURPOSE = "on purpose"


def _long_functions(path: Path) -> list[str]:
    """Functions and methods of the module over MAX_FUNCTION_LINES lines (from `def` to their
    last line) whose docstring does not say why."""
    long = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and \
                    LONG_ON_PURPOSE not in (ast.get_docstring(node) or ""):
                long.append(f"{node.name} ({length} lines)")
    return long


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_modules_and_functions_stay_short(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_module(path)} has {lines} lines"
    long = _long_functions(path)
    assert not long, (f"{_module(path)}: {', '.join(long)}: split them, or say in the docstring "
                      f"why they are long ({LONG_ON_PURPOSE!r})")


def test_a_long_function_without_a_reason_is_caught(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f'def f():\n    """Doc."""\n{body}', encoding="utf-8")
    assert _long_functions(tmp_path / "m.py") == [f"f ({MAX_FUNCTION_LINES + 2} lines)"]
    (tmp_path / "m.py").write_text(f'def f():\n    """One loop, {LONG_ON_PURPOSE}."""\n{body}',
                                   encoding="utf-8")
    assert _long_functions(tmp_path / "m.py") == []
