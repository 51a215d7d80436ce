"""Turning a rule's embedded VALID/INVALID examples into a small project and linting it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pglint import engine
from pglint.config import parse_settings
from pglint.finding import Finding
from pglint.registry import catalog
from pglint.rule import Example, Rule

MAIN_PATHS = {
    "migration": "migrations/V900__example.sql",
    "sql": "queries/example.sql",
    "pgbench": "bench/example.pgbench",
    "python": "app/example.py",
}


@dataclass
class ExampleProject:
    root: Path
    main: Path
    settings: object

    def lint(self, code: str) -> list[Finding]:
        result = engine.lint([self.root], self.settings)
        assert not result.internal_errors, result.internal_errors
        return [f for f in result.findings if f.code == code and Path(f.path).resolve() == self.main.resolve()]

    def fix(self) -> str:
        """The main file after applying every applicable fix (in memory), and the result."""
        result = engine.lint_and_fix([self.root], self.settings, unsafe=True, write=False)
        assert not result.internal_errors, result.internal_errors
        for path, (_, after) in result.diffs.items():
            if Path(path).resolve() == self.main.resolve():
                return after
        return self.main.read_text(encoding="utf-8")

    def migrations(self) -> list[str]:
        """Context migration texts, in name order (the example's own file excluded)."""
        files = sorted((self.root / "migrations").glob("*.sql")) if (self.root / "migrations").exists() else []
        return [f.read_text(encoding="utf-8") for f in files if f.resolve() != self.main.resolve()]


def make_project(root: Path, rule: type[Rule], example: Example, text: str | None = None,
                 only_rule: bool = True) -> ExampleProject:
    for rel, content in example.context.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    main = root / MAIN_PATHS[example.kind]
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(example.sql if text is None else text, encoding="utf-8")
    config = dict(example.config)
    if only_rule:
        config.setdefault("select", [rule.code])
    if example.target_version:
        config["target-version"] = example.target_version
    settings = parse_settings(config, catalog=catalog())
    settings = settings.with_overrides(root=root)
    return ExampleProject(root, main, settings)


def lint_files(root: Path, files: dict[str, str]) -> list[Finding]:
    """Write `files` (project path -> text, a pglint.toml among them) under `root` and lint
    the project with its configuration."""
    from pglint.config import find_config, load_settings

    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    settings = load_settings(find_config(root), catalog()).with_overrides(root=root)
    return engine.lint([root], settings).findings
