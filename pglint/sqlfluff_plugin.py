"""pglint's SQL rules inside `sqlfluff lint`: a sqlfluff plugin (entry point group `sqlfluff`).

Only sqlfluff imports this module (`pip install '.[sqlfluff]'` in a checkout); pglint itself
never does.

Each pglint SQL rule (PGL101 ... PGL401; not the PGL9xx meta rules) becomes one sqlfluff rule
with the same code (`PGL101`) and the name `pglint.<name with underscores>`
(`pglint.hot_counter_update`), in the groups `all` and `pglint`; so `--rules PGL101`,
`--rules pglint.hot_counter_update` and `--rules pglint` all select by pglint's own words.
sqlfluff derives a rule's code from its class name (`Rule_<Plugin>_<4 characters>`), which
cannot spell `PGL101`: the classes are named `Rule_Pglint_P101` and their code is then set
to pglint's.

Each rule crawls only the file's root segment. The first one to run on a file lints the
file's source text with pglint's engine (all of pglint's enabled rules at once); the others
read the memoized findings of that text. The file kind (migration, application SQL, pgbench
script) comes from the path sqlfluff gives, classified as `pglint check` would, with the
pglint configuration found above the file (settings, table hints, per-file-ignores;
`-- pglint: ignore[...]` comments work too). sqlfluff lints one file at a time, so the project
model holds that file only: rules that need evidence from other files (a table created in an
earlier migration, the application's writes to it) stay silent here.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlfluff.core.plugin import hookimpl

if TYPE_CHECKING:
    from sqlfluff.core.rules import BaseRule

    from pglint.finding import Finding

GROUP = "pglint"
# A few files' findings: sqlfluff runs every rule on one file before the next (and re-lints
# a file between `sqlfluff fix` passes, with a new text).
_MEMO_SIZE = 8
_memo: OrderedDict[tuple[str, str], dict[str, list["Finding"]]] = OrderedDict()
_resolver = None


def sqlfluff_name(name: str) -> str:
    """The sqlfluff rule name of a pglint rule (sqlfluff names are lowercase snake_case with
    `.` namespaces): `hot-counter-update` -> `pglint.hot_counter_update`."""
    return f"{GROUP}.{name.replace('-', '_')}"


def _exposed_rules() -> list[Any]:
    """pglint's SQL rules: everything but the PGL9xx meta rules (syntax errors and unused
    suppressions are pglint's own business)."""
    from pglint.registry import all_rules

    return [r for r in all_rules() if not r.code.startswith("PGL9")]


def findings_for(text: str, path: Path | None) -> dict[str, list["Finding"]]:
    """pglint's findings on one file's text, by code; linted once per (path, text)."""
    key = (str(path or ""), text)
    found = _memo.get(key)
    if found is not None:
        _memo.move_to_end(key)
        return found
    found = {}
    for finding in _lint_text(text, path):
        found.setdefault(finding.code, []).append(finding)
    _memo[key] = found
    while len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    return found


def _lint_text(text: str, path: Path | None) -> list["Finding"]:
    """Lint one file as a project of its own, its kind classified from its path as
    `pglint check` would (application SQL without a path, e.g. stdin)."""
    import os

    from pglint.config import Resolver
    from pglint.discover import candidate
    from pglint.engine import lint_loaded, load
    from pglint.paths import relative_to

    global _resolver
    if _resolver is None:
        from pglint.registry import catalog

        _resolver = Resolver(catalog=catalog())
    real = path is not None and path.is_file()
    file_path = path if path is not None else Path("stdin")
    settings = _resolver.for_file(file_path.resolve()) if real else _resolver.for_path(Path.cwd())
    absolute = os.path.abspath(file_path)
    rel = relative_to(absolute, os.path.abspath(settings.root or os.getcwd())) or str(file_path)
    display = (relative_to(absolute, os.getcwd()) or absolute) if real else str(file_path)
    loaded = load(candidate(file_path, rel, display, settings), text)
    return lint_loaded([loaded], settings)


def _anchor(root: Any, start: int, end: int) -> Any:
    """The segment to report a finding at: the first token at or after the finding's offset
    in the source; a segment made for the exact span when the offset falls inside a token (a
    dollar-quoted function body is one token); the last token when nothing follows."""
    from sqlfluff.core.parser import RawSegment
    from sqlfluff.core.parser.markers import PositionMarker

    last = root
    for seg in root.raw_segments:
        marker = seg.pos_marker
        if seg.is_meta or marker is None:
            continue
        last = seg
        source = marker.source_slice
        if source.stop <= start:
            continue
        if source.start >= start or not marker.is_literal():
            return seg
        # The token holds the finding's start: point inside it.
        stop = min(max(end, start + 1), source.stop)
        offset = marker.templated_slice.start - source.start
        inner = PositionMarker(slice(start, stop), slice(start + offset, stop + offset),
                               marker.templated_file)
        return RawSegment(marker.templated_file.source_str[start:stop], inner)
    return last


def _make_rule(rule: Any) -> type["BaseRule"]:
    from sqlfluff.core.rules import BaseRule, LintResult, RuleContext
    from sqlfluff.core.rules.crawlers import RootOnlyCrawler

    code = rule.code

    def _eval(self: BaseRule, context: RuleContext) -> list[LintResult] | None:
        templated = context.templated_file
        if templated is None:
            return None
        findings = findings_for(templated.source_str, context.path).get(code)
        if not findings:
            return None
        return [LintResult(anchor=_anchor(context.segment, f.start, f.end),
                           description=f.message) for f in findings]

    cls = type(f"Rule_Pglint_P{code[3:]}", (BaseRule,), {
        "__doc__": f"{rule.summary}\n\n    pglint rule {code} ({rule.name}); "
                   f"`pglint rule {code}` prints its documentation.\n",
        "__module__": __name__,
        "name": sqlfluff_name(rule.name),
        "groups": ("all", GROUP),
        # pglint parses with PostgreSQL's own parser: what sqlfluff cannot parse still counts.
        "crawl_behaviour": RootOnlyCrawler(works_on_unparsable=True),
        "is_fix_compatible": False,
        "_eval": _eval,
    })
    cls.code = code  # pglint's own code (see the module docstring)
    return cls


@lru_cache(maxsize=1)
def _rules() -> tuple[type["BaseRule"], ...]:
    rules = tuple(_make_rule(rule) for rule in _exposed_rules())
    # Module attributes, so that pickle finds them: `sqlfluff lint -p N` sends results
    # (holding the rule) from its worker processes.
    globals().update((cls.__name__, cls) for cls in rules)
    return rules


def __getattr__(name: str) -> Any:
    """The rule classes, for unpickling in a process that has not asked for them yet."""
    if name.startswith("Rule_Pglint_"):
        for cls in _rules():
            if cls.__name__ == name:
                return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def get_rules() -> list[type["BaseRule"]]:
    """One sqlfluff rule per pglint SQL rule (defined on demand, as sqlfluff recommends)."""
    return list(_rules())
