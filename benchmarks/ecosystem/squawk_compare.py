"""squawk beside pglint's lock rules on the real-repository corpus.

For each repository of the manifest:

1. pglint says which files it reads and their roles (`pglint check --show-files`); squawk runs
   once over the SQL files a squawk user would point it at: the up and down migrations, the
   schema dumps, and any other PostgreSQL SQL file in a folder that holds SQL migrations (never
   the files pglint reads as another database's). `--reporter json`, `--pg-version` matching
   pglint's default target version.
2. Each squawk finding is classified: in a down migration, a down section, a schema dump, a
   test or another non-migration file; on a table created earlier in the same file; in an
   applied migration (the `--recent N` split of check.py: each stream's last N migrations are
   new, the earlier ones have run); the rest: an existing table in a new migration, the
   findings a reviewer of the pull request needs.
3. pglint runs with the lock rules (`--select PGL5,PGL301`) in the same `--recent N` view and
   with every migration new, and its findings are counted per code. A squawk finding of the
   last class that pglint does not report (no finding of a pglint rule covering squawk's rule
   on the same statement; for the timeout rules, in the same file) is one of pglint's recall
   gaps, listed with the reason pglint is silent when the script can tell.

    python benchmarks/ecosystem/squawk_compare.py                     # writes squawk.md
    python benchmarks/ecosystem/squawk_compare.py --squawk /path/to/squawk --runs 3
    python benchmarks/ecosystem/squawk_compare.py --only knadh/listmonk --output /tmp/s.md

Both tools are timed over the whole corpus, `--runs` times (median reported): squawk's one
invocation per repository, and pglint's run in the recent view (`--no-cache`), which reads the
whole repository (Python files too) to build its project model. Standard library only, like
check.py; the pglint beside this Python is run, and imported to read the rules' squawk names
and to parse SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from check import SQL_SUFFIXES, pglint_command, pglint_version, recent_history
from common import HERE, PROJECT_ROOT, default_corpus_dir, load_manifest, select_repos

OUTPUT = HERE / "squawk.md"
LOCK_SELECT = "PGL5,PGL301"
SQUAWK_FILE_ROLES = ("migration", "down-migration", "schema-dump")
# Classes of a squawk finding, in the order they are decided.
NOT_MIGRATION, SAME_FILE, APPLIED, EXISTING_NEW = "not-migration", "same-file", "applied", \
    "existing-new"
CLASSES = (NOT_MIGRATION, SAME_FILE, APPLIED, EXISTING_NEW)
# squawk's lock rules by family, as its documentation groups what they guard against. A squawk
# rule that a pglint rule names (`Rule.squawk`) and that is missing here lands in "other".
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Index builds and drops", ("require-concurrent-index-creation",
                                "require-concurrent-index-deletion",
                                "require-concurrent-reindex",
                                "ban-concurrent-index-creation-in-transaction")),
    ("Constraints", ("adding-foreign-key-constraint", "constraint-missing-not-valid",
                     "disallowed-unique-constraint", "adding-serial-primary-key-field",
                     "adding-not-nullable-field")),
    ("Columns and table rewrites", ("adding-field-with-default", "adding-required-field",
                                    "changing-column-type", "prefer-repack")),
    ("Partitions", ("require-concurrent-partition-detach",)),
    ("Domains", ("ban-alter-domain-with-add-constraint", "ban-create-domain-with-constraint")),
    ("Timeouts", ("require-lock-timeout", "require-statement-timeout",
                  "require-timeout-settings")),
)
TIMEOUT_RULES = {"require-lock-timeout", "require-statement-timeout", "require-timeout-settings"}
# squawk 2.x split require-timeout-settings in two; pglint's rules name the old rule, which
# stood for both. Only the lock half has a pglint counterpart: pglint does not require a
# statement_timeout.
RENAMED = {"require-lock-timeout": "require-timeout-settings"}
NO_COUNTERPART = {"require-statement-timeout"}
# Why pglint stays silent where squawk's rule and pglint's differ in judgement, not in facts.
JUDGEMENT = {
    "adding-field-with-default": "pglint reports a default only when it rewrites the table "
                                 "(volatile, or any default before PostgreSQL 11)",
    "changing-column-type": "pglint reports only type changes that rewrite the table or an "
                            "index (not varchar widening, varchar to text, ...)",
    "require-concurrent-index-creation": "pglint reports an index build only on a table "
                                         "known to be big (hinted rows, or the project's own "
                                         "concurrent builds on it), not new, in a migration",
    "require-lock-timeout": "pglint asks for lock_timeout before a statement that locks a table "
                            "production already has",
    "adding-foreign-key-constraint": "pglint reports a foreign key validated in place on a "
                                     "table production already has",
}


@dataclass
class SquawkFinding:
    """One squawk finding, with what the comparison learns about it."""

    path: str  # relative to the repository root, POSIX
    line: int  # 1-based (squawk's JSON counts from 0)
    rule: str
    message: str
    kind: str = ""  # one of CLASSES
    why_class: str = ""  # the role, "down section", ... for NOT_MIGRATION
    codes: tuple[str, ...] = ()  # the pglint rules covering squawk's rule
    covered: bool = False  # pglint reports one of `codes` there (recent view)
    gap: str = ""  # why pglint is silent, for an uncovered EXISTING_NEW finding
    gap_kind: str = ""  # the reason's category, for the summary
    table: str = ""  # the table the statement works on, when known


@dataclass
class Span:
    """A top-level statement: its lines, kind and the tables (and index names) it works on."""

    first: int
    last: int
    kind: str
    tables: tuple[str, ...]
    indexes: tuple[str, ...] = ()  # indexes dropped or reindexed that this file did not make
    concurrent: bool = False  # CREATE / DROP / REINDEX ... CONCURRENTLY


@dataclass
class FileFacts:
    """What the classification needs from one SQL file: its statements, the tables it creates
    (with the statement that does), and the lines in down or other-dialect sections."""

    spans: list[Span] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)  # table -> first line creating it
    index_tables: dict[str, str] = field(default_factory=dict)  # index -> table, made here
    masked_lines: set[int] = field(default_factory=set)

    def span_at(self, line: int) -> Span | None:
        """The statement holding `line` (the last one starting at or before it)."""
        best = None
        for span in self.spans:
            if span.first <= line:
                best = span
            else:
                break
        return best


@dataclass
class RepoResult:
    name: str
    squawk_files: int = 0
    squawk: list[SquawkFinding] = field(default_factory=list)
    squawk_syntax_errors: int = 0
    squawk_unparsed: set[str] = field(default_factory=set)  # files with a squawk syntax error
    pglint_recent: Counter = field(default_factory=Counter)
    pglint_all_new: Counter = field(default_factory=Counter)
    # pglint's recent findings that no squawk finding of a rule it covers matches, by
    # (code, why): squawk does not read the file, cannot parse it, or stays silent.
    pglint_only: Counter = field(default_factory=Counter)
    squawk_seconds: list[float] = field(default_factory=list)
    pglint_seconds: list[float] = field(default_factory=list)
    error: str = ""


def squawk_map() -> dict[str, tuple[str, ...]]:
    """squawk rule name -> the pglint codes covering it, from the rules' `squawk` names."""
    from pglint.registry import squawk_aliases

    mapping = {name.lower(): codes for name, codes in squawk_aliases().items()}
    for new, old in RENAMED.items():
        if new not in mapping and old in mapping:
            mapping[new] = mapping[old]
    for name in NO_COUNTERPART:
        mapping.pop(name, None)
    return mapping


def families(mapping: dict[str, tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """FAMILIES, plus an "Other" family for mapped squawk rules FAMILIES does not list."""
    listed = {rule for _, rules in FAMILIES for rule in rules}
    extra = tuple(sorted(set(mapping) - listed))
    return list(FAMILIES) + ([("Other", extra)] if extra else [])


def parse_squawk_json(text: str, root: Path | None = None) -> list[SquawkFinding]:
    """squawk's `--reporter json` output: a list of violations with 0-based lines and the file
    as it was named on the command line (made relative to `root` when absolute)."""
    out = []
    for item in json.loads(text or "[]"):
        path = item.get("file") or ""
        if root is not None and os.path.isabs(path):
            path = os.path.relpath(path, root)
        out.append(SquawkFinding(PurePosixPath(*Path(path).parts).as_posix(),
                                 int(item.get("line") or 0) + 1, item.get("rule_name", "?"),
                                 item.get("message", "")))
    return out


def pglint_env() -> dict[str, str]:
    """The environment for pglint's runs, without PGLINT_ALL_MIGRATIONS: the recent view needs
    pglint's own judgement of which migrations have run (the all-new view passes
    --all-migrations)."""
    return {k: v for k, v in os.environ.items() if k != "PGLINT_ALL_MIGRATIONS"}


def show_files(command: list[str], root: Path, extra: list[str], timeout: float
               ) -> dict[str, tuple[str, str]]:
    """`pglint check --show-files`: each file's role and, for a migration, "new" or "applied"
    (in lint order, migrations in apply order)."""
    proc = subprocess.run([*command, "check", ".", "--show-files", *extra], cwd=root,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          errors="replace", env=pglint_env())
    out: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        path, _, rest = line.partition("  ")
        if not rest:
            continue
        status = "applied" if "; applied" in rest else "new" if "; new" in rest else ""
        out[PurePosixPath(*Path(path).parts).as_posix()] = (rest.split(" ", 1)[0], status)
    return out


def is_sql(path: str) -> bool:
    """A file pglint reads as SQL (synapse's `.sql.postgres` included)."""
    lower = path.lower()
    return lower.endswith(SQL_SUFFIXES) or ".sql." in lower


def squawk_files(roles: dict[str, tuple[str, str]]) -> list[str]:
    """What a squawk user points squawk at: every up or down SQL migration and schema dump,
    plus the other SQL files in a folder that holds SQL migrations (a `migrations/*.sql` glob
    takes them too), but never a file pglint reads as another database's SQL."""
    folders = {path.rpartition("/")[0] for path, (role, _) in roles.items()
               if role == "migration" and is_sql(path)}
    return [path for path, (role, _) in roles.items()
            if is_sql(path) and role != "other-dialect"
            and (role in SQUAWK_FILE_ROLES or path.rpartition("/")[0] in folders)]


def _key(rangevar: dict | None) -> str | None:
    """A table as pglint's catalog keys it: `schema.name` (no `public.`), a quoted name's case
    kept."""
    from pglint.sql.nodes import relation_name

    return relation_name(rangevar)


def _targets(kind: str, body: dict, index_tables: dict[str, str]
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tables a statement works on (the altered, indexed, reindexed or vacuumed table; for
    `DROP INDEX` / `REINDEX INDEX` the table of an index this file made), and the indexes it
    drops or rebuilds that this file did not make."""
    from pglint.sql.nodes import qualified

    indexes: list[str] = []
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_INDEX":
        indexes = [qualified(obj.get("List", {}).get("items"))
                   for obj in body.get("objects") or ()]
    elif kind == "DropStmt" and body.get("removeType") == "OBJECT_TABLE":
        return tuple(qualified(obj.get("List", {}).get("items"))
                     for obj in body.get("objects") or ()), ()
    elif kind == "ReindexStmt" and body.get("kind") == "REINDEX_OBJECT_INDEX":
        indexes = [index] if (index := _key(body.get("relation"))) else []
    elif kind in ("TruncateStmt", "LockStmt"):
        return tuple(k for rel in body.get("relations") or ()
                     if (k := _key(rel.get("RangeVar")))), ()
    elif kind == "VacuumStmt":
        return tuple(k for rel in body.get("rels") or ()
                     if (k := _key(rel.get("VacuumRelation", {}).get("relation")))), ()
    else:
        relation = body.get("relation") or body.get("into", {}).get("rel")
        return ((key,) if (key := _key(relation)) else ()), ()
    tables = tuple(index_tables[i.lower()] for i in indexes if i.lower() in index_tables)
    return tables, tuple(i for i in indexes if i.lower() not in index_tables)


def _concurrent(body: dict) -> bool:
    return bool(body.get("concurrent")) or any(
        p.get("DefElem", {}).get("defname") == "concurrently" for p in body.get("params") or ())


def file_facts(text: str) -> FileFacts:
    """Parse one SQL file as pglint does (whole file; down and other-dialect sections are
    blanked by pglint's parser, and remembered here as masked lines)."""
    from pglint.sql.dialect_sections import mask_other_dialect_sections
    from pglint.sql.lexer import mask_down_sections
    from pglint.sql.parse import parse_sql

    facts = FileFacts()
    masked = mask_other_dialect_sections(mask_down_sections(text))
    if masked != text:
        facts.masked_lines = {n for n, (a, b) in enumerate(zip(text.splitlines(),
                                                               masked.splitlines()), 1)
                              if a.strip() and not b.strip()}
    starts = [0]  # character offset of each line's start, for offset -> line
    for n, ch in enumerate(text):
        if ch == "\n":
            starts.append(n + 1)

    def line_of(offset: int) -> int:
        from bisect import bisect_right
        return bisect_right(starts, offset)

    for stmt in parse_sql(text).statements:
        if stmt.parent is not None:
            continue
        first = line_of(stmt.start)
        tables, indexes = _targets(stmt.kind, stmt.body, facts.index_tables)
        facts.spans.append(Span(first, line_of(max(stmt.end - 1, stmt.start)), stmt.kind, tables,
                                indexes, _concurrent(stmt.body)))
        if stmt.kind in ("CreateStmt", "CreateTableAsStmt") and tables:
            facts.created.setdefault(tables[0], first)
        elif stmt.kind == "IndexStmt" and stmt.body.get("idxname") and tables:
            facts.index_tables[stmt.body["idxname"].lower()] = tables[0]  # index names: lower
    return facts


def same_table(a: str, b: str) -> bool:
    """One table named twice: equal keys, or equal names when one of them has no schema (the
    search path decides, and migrations rarely rely on two tables of one name)."""
    a, b = a.lower(), b.lower()  # for matching only: a quoted and a bare name rarely differ
    if a == b:
        return True
    return ("." not in a or "." not in b) and a.rpartition(".")[2] == b.rpartition(".")[2]


def classify(finding: SquawkFinding, role: str, status: str, facts: FileFacts) -> None:
    """Set the finding's class: not a migration's up part, a table made earlier in the file, an
    applied migration, or an existing table in a new migration."""
    span = facts.span_at(finding.line)
    finding.table = span.tables[0] if span and span.tables else ""
    if role != "migration":
        finding.kind, finding.why_class = NOT_MIGRATION, role or "unknown"
    elif finding.line in facts.masked_lines:
        finding.kind, finding.why_class = NOT_MIGRATION, "down section"
    elif span and span.tables and not span.indexes and all(
            any(same_table(t, made) and line < span.first for made, line in
                facts.created.items()) for t in span.tables):
        finding.kind = SAME_FILE
    elif status == "applied":
        finding.kind = APPLIED
    else:
        finding.kind = EXISTING_NEW


def covered(finding: SquawkFinding, reported: list[tuple[int, str]], facts: FileFacts) -> bool:
    """pglint reports a rule covering squawk's on the same statement (the timeout rules: in
    the same file, where pglint reports once)."""
    if finding.rule in TIMEOUT_RULES:
        return any(code in finding.codes for _, code in reported)
    span = facts.span_at(finding.line)
    first, last = (span.first, span.last) if span else (finding.line, finding.line)
    return any(code in finding.codes and first <= line <= last for line, code in reported)


@dataclass
class RepoTables:
    """Where the repository's SQL makes each table and index: the first migration (in apply
    order) and its status, and the other SQL files (dumps, scripts, ...) that define it too."""

    made_by: dict[str, tuple[str, str]] = field(default_factory=dict)  # table -> path, status
    index_table: dict[str, str] = field(default_factory=dict)  # index -> table
    outside: dict[str, tuple[str, str]] = field(default_factory=dict)  # table -> path, role

    def maker(self, table: str) -> tuple[str, str] | None:
        # The name as written first: `"Memo"` and `memo` are two tables.
        exact = self.made_by.get(table)
        return exact if exact is not None else next(
            (v for t, v in self.made_by.items() if same_table(t, table)), None)


def repo_tables(files: dict[str, FileFacts], status: dict[str, tuple[str, str]],
                outside: dict[str, FileFacts]) -> RepoTables:
    """RepoTables from the parsed migrations (`files`, in apply order) and other SQL files."""
    out = RepoTables()
    for path, facts in files.items():
        role, state = status.get(path, ("", ""))
        if role != "migration":
            continue
        for table, line in facts.created.items():
            if line not in facts.masked_lines:
                out.made_by.setdefault(table, (path, state))
        for index, table in facts.index_tables.items():
            out.index_table.setdefault(index, table)
    for path, facts in outside.items():
        for table in facts.created:
            out.outside.setdefault(table, (path, status.get(path, ("", ""))[0]))
    return out


def gap_reason(finding: SquawkFinding, reported: list[tuple[int, str]], facts: FileFacts,
               tables: RepoTables) -> tuple[str, str]:
    """Why pglint is silent on an existing-table finding, as far as the files tell: a short
    category (for the summary) and the detail for this finding."""
    span = facts.span_at(finding.line)
    if span is None:
        return "no statement parsed there", "pglint parses no statement at this line"
    names = list(span.tables)
    for index in span.indexes:
        table = tables.index_table.get(index.lower()) or \
            tables.index_table.get(index.rpartition(".")[2].lower())
        if table is None:
            return ("index made by no SQL migration",
                    f"index `{index}` is created by no SQL migration pglint reads")
        names.append(table)
    timeout = finding.rule in TIMEOUT_RULES
    if timeout and span.concurrent:
        return ("timeout before a CONCURRENTLY build or drop",
                "a CONCURRENTLY build or drop takes SHARE UPDATE EXCLUSIVE, which blocks no "
                "reads or writes: pglint asks for no lock_timeout before it")
    if not names:
        if timeout:
            return ("timeout before a statement that locks no table",
                    f"the statement ({span.kind}) locks no table: pglint asks for lock_timeout "
                    "before statements that lock one")
        return ("statement names no table", f"the statement ({span.kind}) names no table "
                "pglint's lock rules track")
    other = next(((o, t) for o in facts.spans if o is not span
                  and o.kind in ("AlterTableStmt", "RenameStmt")
                  for t in o.tables if any(same_table(t, n) for n in names)), None)
    if other and not timeout:
        return ("table locked by another statement of the file",
                f"the ALTER TABLE at line {other[0].first} takes ACCESS EXCLUSIVE on "
                f"`{other[1]}` in the same transaction: pglint does not report a second lock "
                "of the same table (the work itself then runs under that lock)")
    for table in names:
        maker = tables.maker(table)
        elsewhere = next((v for t, v in tables.outside.items() if same_table(t, table)), None)
        if maker is None:
            where = f" (only `{elsewhere[0]}`, a {elsewhere[1]} file, defines it)" \
                if elsewhere else ""
            return ("table made by no SQL migration",
                    f"`{table}` is created by no SQL migration pglint reads{where}: not in "
                    "its history (made by a Python migration, the ORM, or outside the corpus)")
        if maker[1] == "new":
            return ("table made by a new migration",
                    f"`{table}` is created by `{maker[0]}`, also new: no production table yet")
        if elsewhere:
            return ("table also defined outside the migrations",
                    f"`{table}` is also defined in `{elsewhere[0]}` ({elsewhere[1]}), which "
                    "does not make it new; pglint stays silent on a table that none of the "
                    "run-time code it reads names (lock-evidence)")
    others = sorted({code for line, code in reported if span.first <= line <= span.last})
    if others:
        return ("pglint reports another rule", f"pglint reports {', '.join(others)} on this "
                "statement instead")
    judged = JUDGEMENT.get(finding.rule, "a different judgement")
    return f"different judgement: {finding.rule}", f"{judged} ({span.kind})"


def run_squawk(squawk: str, root: Path, files: list[str], pg_version: int,
               timeout: float) -> tuple[str, float]:
    """squawk's JSON over `files` (one invocation) and the seconds it took."""
    start = time.perf_counter()
    proc = subprocess.run([squawk, "--reporter", "json", f"--pg-version={pg_version}.0",
                           *files], cwd=root, capture_output=True, text=True, timeout=timeout,
                          check=False, errors="replace")
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1) or not proc.stdout.lstrip().startswith("["):
        raise RuntimeError(f"squawk exited with {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout, seconds


def run_pglint(command: list[str], root: Path, extra: list[str], timeout: float
               ) -> tuple[list[tuple[str, int, str]], float]:
    """pglint's lock findings as (path, line, code), and the seconds the run took."""
    start = time.perf_counter()
    proc = subprocess.run([*command, "check", ".", "--select", LOCK_SELECT, "--output-format",
                           "json", "--no-cache", "--exit-zero", *extra], cwd=root,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          errors="replace", env=pglint_env())
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"pglint exited with {proc.returncode}: {proc.stderr.strip()[-300:]}")
    found = []
    for raw in json.loads(proc.stdout):
        path = raw.get("filename") or ""
        if os.path.isabs(path):
            path = os.path.relpath(path, root)
        found.append((PurePosixPath(*Path(path).parts).as_posix(),
                      int((raw.get("location") or {}).get("row") or 0), raw.get("code", "?")))
    return found, seconds


def compare_repo(name: str, root: Path, squawk: str | None, command: list[str], recent: int,
                 pg_version: int, timeout: float = 900.0,
                 recorded: str | None = None) -> RepoResult:
    """Run both tools on one repository and classify squawk's findings (module docstring).
    `recorded` is squawk's JSON to use instead of running squawk (`squawk` may then be None)."""
    result = RepoResult(name)
    roles = show_files(command, root, ["--all-migrations"], timeout)
    files = squawk_files(roles)
    result.squawk_files = len(files)
    with tempfile.TemporaryDirectory(prefix="pglint-squawk-") as folder:
        config = recent_history({p: r for p, (r, _) in roles.items()}, recent, Path(folder),
                                root)
        recent_args = ["--config", str(config)] if config else ["--all-migrations"]
        status = show_files(command, root, recent_args, timeout)
        if recorded is None:
            assert squawk is not None
            recorded, seconds = run_squawk(squawk, root, files, pg_version, timeout) \
                if files else ("[]", 0.0)
            result.squawk_seconds.append(seconds)
        pglint_recent, seconds = run_pglint(command, root, recent_args, timeout)
        result.pglint_seconds.append(seconds)
    pglint_all, _ = run_pglint(command, root, ["--all-migrations"], timeout)
    result.pglint_recent = Counter(code for _, _, code in pglint_recent)
    result.pglint_all_new = Counter(code for _, _, code in pglint_all)
    status = {path: status.get(path, role) for path, role in roles.items()}
    classify_all(result, parse_squawk_json(recorded, root), root, files, status, pglint_recent)
    return result


def read_facts(root: Path, paths: list[str]) -> dict[str, FileFacts]:
    return {path: file_facts((root / path).read_text(encoding="utf-8", errors="replace"))
            for path in paths}


def classify_all(result: RepoResult, findings: list[SquawkFinding], root: Path,
                 files: list[str], status: dict[str, tuple[str, str]],
                 pglint_recent: list[tuple[str, int, str]]) -> None:
    """Classify squawk's findings, match them with pglint's (recent view) and, for each one on
    an existing table in a new migration that pglint does not report, say why."""
    facts = read_facts(root, files)
    reported: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for path, line, code in pglint_recent:
        reported[path].append((line, code))
    mapping = squawk_map()
    gaps = []
    for finding in findings:
        if finding.rule == "syntax-error":
            result.squawk_syntax_errors += 1
            result.squawk_unparsed.add(finding.path)
            continue
        file = facts.get(finding.path) or FileFacts()
        role, state = status.get(finding.path, ("", ""))
        classify(finding, role, state, file)
        finding.codes = mapping.get(finding.rule, ())
        if finding.codes:
            finding.covered = covered(finding, reported[finding.path], file)
            if finding.kind == EXISTING_NEW and not finding.covered:
                gaps.append(finding)
        result.squawk.append(finding)
    result.pglint_only = pglint_alone(result, pglint_recent, facts, mapping)
    if gaps:  # the other SQL files (dumps, scripts, ...) are read only to explain gaps
        others = [p for p, (role, _) in status.items() if is_sql(p) and p not in facts
                  and role not in ("other-dialect", "migration", "down-migration")]
        outside = {p: f for p, f in facts.items() if status.get(p, ("", ""))[0] != "migration"}
        tables = repo_tables(facts, status, {**outside, **read_facts(root, others)})
        for finding in gaps:
            finding.gap_kind, finding.gap = gap_reason(
                finding, reported[finding.path], facts.get(finding.path) or FileFacts(), tables)


def pglint_alone(result: RepoResult, pglint_recent: list[tuple[str, int, str]],
                 facts: dict[str, FileFacts], mapping: dict[str, tuple[str, ...]]) -> Counter:
    """pglint's recent findings that squawk does not match (a finding of a squawk rule the
    pglint code covers, on the same statement; for PGL301 in the same file), by why."""
    by_file: dict[str, list[SquawkFinding]] = defaultdict(list)
    for finding in result.squawk:
        by_file[finding.path].append(finding)
    alone: Counter = Counter()
    for path, line, code in pglint_recent:
        if path not in facts:
            alone[code, "file not read"] += 1
            continue
        if path in result.squawk_unparsed:
            alone[code, "file not parsed"] += 1
            continue
        span = facts[path].span_at(line)
        first, last = (span.first, span.last) if span else (line, line)
        if not any(code in mapping.get(f.rule, ()) and (
                code == "PGL301" or first <= f.line <= last) for f in by_file[path]):
            alone[code, "squawk silent"] += 1
    return alone


def time_again(result: RepoResult, root: Path, squawk: str, command: list[str], recent: int,
               pg_version: int, timeout: float) -> None:
    """One more timed run of both tools on the repository (same files, same view)."""
    roles = show_files(command, root, ["--all-migrations"], timeout)
    files = squawk_files(roles)
    with tempfile.TemporaryDirectory(prefix="pglint-squawk-") as folder:
        config = recent_history({p: r for p, (r, _) in roles.items()}, recent, Path(folder),
                                root)
        if files:
            result.squawk_seconds.append(run_squawk(squawk, root, files, pg_version,
                                                    timeout)[1])
        else:
            result.squawk_seconds.append(0.0)
        args = ["--config", str(config)] if config else ["--all-migrations"]
        result.pglint_seconds.append(run_pglint(command, root, args, timeout)[1])


def squawk_version(squawk: str) -> str:
    proc = subprocess.run([squawk, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def pglint_commit() -> str:
    """The commit of the checkout this script belongs to (`+changes` when the tree is dirty)."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=False)
        return proc.stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _codes(counts: Counter, codes: tuple[str, ...]) -> str:
    return ", ".join(f"{code} {counts[code]}" for code in codes) if codes else "-"


def render(results: list[RepoResult], header: dict[str, str], recent: int) -> str:
    """squawk.md: the table per lock family, pglint's counts per code, times, recall gaps."""
    mapping = squawk_map()
    findings = [f for r in results for f in r.squawk]
    by_rule: dict[str, list[SquawkFinding]] = defaultdict(list)
    for f in findings:
        by_rule[f.rule].append(f)
    recent_counts = sum((r.pglint_recent for r in results), Counter())
    all_counts = sum((r.pglint_all_new for r in results), Counter())
    lines = [
        "# squawk beside pglint on the ecosystem corpus", "",
        f"Generated by `{header['command']}` at pglint commit {header['commit']} "
        f"({header['pglint']}), with {header['squawk']}; do not edit by hand.", "",
        f"{len(results)} repositories; squawk read {sum(r.squawk_files for r in results)} SQL "
        f"files (up and down migrations, schema dumps, the other SQL files of migration "
        f"folders) with `--reporter json --pg-version={header['pg_version']}.0` and no other "
        f"flag; pglint read each repository from its root with `--select {LOCK_SELECT}` (most "
        "of its lock rules are off by default). Views: *recent*, each repository's last "
        f"{recent} migrations new and the earlier ones applied (check.py `--recent {recent}`); "
        "*all new*, every migration new.", "",
        "squawk's findings by class (recent view): **not a migration** (down migration or "
        "down section, schema dump, test, script, ...: pglint reports no lock finding there); "
        "**same-file table** (the table was created earlier in the same file); **applied** "
        "(a migration that has run); **existing, new** (an existing table in a new migration: "
        "what matters in review). *pglint covers*: of the last class, how many pglint reports "
        "too (a pglint rule covering squawk's on the same statement; for timeouts, in the "
        "same file). pglint's columns count the findings of the covering codes.", "",
    ]
    for family, rules in families(mapping):
        # squawk's old name for a split rule only when squawk still reports it
        rows = [rule for rule in rules if by_rule.get(rule)
                or (mapping.get(rule) and rule not in RENAMED.values())]
        if not rows:
            continue
        lines += [f"## {family}", "",
                  "| squawk rule | pglint | squawk | not a migration | same-file table | "
                  "applied | existing, new | pglint covers | pglint, recent | pglint, all new |",
                  "|---|---|--:|--:|--:|--:|--:|--:|---|---|"]
        for rule in rows:
            items = by_rule.get(rule, [])
            kinds = Counter(f.kind for f in items)
            codes = mapping.get(rule, ())
            cover = sum(1 for f in items if f.kind == EXISTING_NEW and f.covered)
            lines.append(f"| `{rule}` | {', '.join(codes) or '-'} | {len(items)} | "
                         + " | ".join(str(kinds[k]) for k in CLASSES)
                         + f" | {cover if codes else '-'} | {_codes(recent_counts, codes)} | "
                           f"{_codes(all_counts, codes)} |")
        lines.append("")
    silent = [rule for _, rules in FAMILIES for rule in rules
              if not by_rule.get(rule) and not mapping.get(rule)]
    other = Counter(f.rule for f in findings
                    if f.rule not in {r for _, rules in families(mapping) for r in rules})
    lines += [f"squawk lock rules that did not fire and have no pglint counterpart: "
              f"{', '.join(f'`{r}`' for r in silent) or 'none'}. squawk's other rules "
              f"(types, naming, compatibility, idempotence) gave {sum(other.values())} "
              f"findings, not compared. squawk reported "
              f"{sum(r.squawk_syntax_errors for r in results)} syntax errors, in "
              f"{sum(len(r.squawk_unparsed) for r in results)} files (it reports nothing else "
              "on a file it cannot parse: psql variables, templates, ...): "
              + (", ".join(f"{r.name} {len(r.squawk_unparsed)} of {r.squawk_files}"
                           for r in results if r.squawk_unparsed) or "none") + ".", ""]
    alone = sum((r.pglint_only for r in results), Counter())
    lines += ["## pglint's lock findings per code", "",
              "*squawk too*: squawk reports a rule the code covers on the same statement (PGL301: "
              "in the same file); otherwise squawk does not read the file (a Python migration), "
              "cannot parse it, or reads it and is silent.", "",
              "| code | recent | squawk too | file not read | file not parsed | squawk silent | "
              "all new |", "|---|--:|--:|--:|--:|--:|--:|"]
    for code in sorted(set(recent_counts) | set(all_counts)):
        if code.startswith(("PGL5", "PGL301")):
            why = [alone[code, w] for w in ("file not read", "file not parsed", "squawk silent")]
            lines.append(f"| {code} | {recent_counts[code]} | {recent_counts[code] - sum(why)} | "
                         + " | ".join(map(str, why)) + f" | {all_counts[code]} |")
    lines += ["", *render_times(results), *render_gaps(results), *render_errors(results)]
    return "\n".join(lines).rstrip() + "\n"


def render_times(results: list[RepoResult]) -> list[str]:
    """Median over the runs of each tool's total time on the repositories where squawk read
    files (pglint alone on the others compares with nothing), and their ratio."""
    timed = [r for r in results if not r.error and r.squawk_files]
    runs = min((len(r.squawk_seconds) for r in timed), default=0)
    if not runs:
        return []
    squawk = statistics.median(sum(r.squawk_seconds[i] for r in timed) for i in range(runs))
    pglint = statistics.median(sum(r.pglint_seconds[i] for r in timed) for i in range(runs))
    ratio = f"{pglint / squawk:.1f}x" if squawk else "-"
    return ["## Time", "",
            f"Median of {runs} runs, wall seconds summed over the {len(timed)} repositories "
            "where squawk read files: squawk reads only the SQL files above; pglint reads the "
            "whole repository (SQL and Python) to build its project model, in the recent view, "
            "without cache.", "",
            "| repositories | squawk files | squawk (s) | pglint (s) | pglint / squawk |",
            "|--:|--:|--:|--:|--:|",
            f"| {len(timed)} | {sum(r.squawk_files for r in timed)} | {squawk:.2f} | "
            f"{pglint:.2f} | {ratio} |", ""]


def render_gaps(results: list[RepoResult]) -> list[str]:
    """Each squawk finding on an existing table in a new migration (recent view) that pglint
    does not report, with the reason pglint is silent when the files tell it."""
    gaps = [(r.name, f) for r in results for f in r.squawk
            if f.kind == EXISTING_NEW and f.codes and not f.covered]
    out = ["## Recall gaps (recent view)", "",
           "squawk findings on an existing table in a new migration that pglint does not report "
           f"({len(gaps)}); `repo:path:line`, squawk's rule, why pglint is silent.", ""]
    reasons = Counter(f.gap_kind for _, f in gaps)
    for reason, n in reasons.most_common():
        out.append(f"- {n} x {reason}")
    out.append("")
    for name, f in sorted(gaps, key=lambda g: (g[0], g[1].path, g[1].line, g[1].rule)):
        out.append(f"- `{name}:{f.path}:{f.line}` `{f.rule}`: {f.gap}")
    return out + [""] if gaps else out[:-1] + ["None.", ""]


def render_errors(results: list[RepoResult]) -> list[str]:
    failed = [r for r in results if r.error]
    if not failed:
        return []
    return ["## Errors", "", *(f"- {r.name}: {r.error}" for r in failed), ""]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=default_corpus_dir())
    parser.add_argument("--only", action="append", metavar="OWNER/NAME")
    parser.add_argument("--squawk", help="the squawk executable (default: squawk on PATH)")
    parser.add_argument("--pglint", help="the pglint executable (default: beside this Python)")
    parser.add_argument("--recent", type=int, default=3, metavar="N",
                        help="migrations judged new per stream (default 3), as check.py")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per tool run")
    parser.add_argument("--output", type=Path, default=OUTPUT,
                        help="where to write the report (default: squawk.md beside the script)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from pglint.config import DEFAULT_TARGET_VERSION

    args = parse_args(argv)
    squawk = args.squawk or shutil.which("squawk")
    if not squawk:
        raise SystemExit("squawk not found: pass --squawk PATH (pip install squawk-cli)")
    command = pglint_command(args.pglint)
    corpus = args.corpus_dir.resolve()
    results = []
    for repo in select_repos(load_manifest(), args.only):
        root = corpus / repo.dirname
        print(f"{repo.name} ...", end=" ", flush=True)
        try:
            result = compare_repo(repo.name, root, squawk, command, args.recent,
                                  DEFAULT_TARGET_VERSION, args.timeout)
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            result = RepoResult(repo.name, error=str(exc))
        results.append(result)
        print(f"{result.squawk_files} files, {len(result.squawk)} squawk findings, "
              f"{sum(result.pglint_recent.values())} pglint (recent)"
              + (f" ERROR: {result.error}" if result.error else ""), flush=True)
    for run in range(1, args.runs):
        print(f"timing run {run + 1} of {args.runs} ...", flush=True)
        for repo, result in zip(select_repos(load_manifest(), args.only), results):
            if not result.error and result.squawk_files:
                time_again(result, corpus / repo.dirname, squawk, command, args.recent,
                           DEFAULT_TARGET_VERSION, args.timeout)
    shown = " ".join(["python benchmarks/ecosystem/squawk_compare.py",
                      *(f"--only {o}" for o in args.only or ()),
                      *([f"--recent {args.recent}"] if args.recent != 3 else []),
                      f"--runs {args.runs}"])
    header = {"command": shown, "commit": pglint_commit(), "pglint": pglint_version(command),
              "squawk": squawk_version(squawk), "pg_version": str(DEFAULT_TARGET_VERSION)}
    text = render(results, header, args.recent)
    args.output.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwrote {args.output}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
