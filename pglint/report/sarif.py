"""SARIF 2.1.0 for code scanning (GitHub, GitLab, IDE viewers): one run, every rule's docs,
results with regions, applicable fixes as replacements, and stable partial fingerprints.

Columns count characters (Unicode code points), so the run says `columnKind:
unicodeCodePoints`; SARIF's default would be UTF-16 code units. Paths are relative to the
repository root, resolved through the `%SRCROOT%` base.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from pglint import __version__
from pglint.baseline import fingerprints, repository_path, repository_root
from pglint.finding import Finding, Severity
from pglint.report import ReportSettings, RunReport
from pglint.source import SourceFile

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "pglint/v1"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule_descriptor(rule) -> dict:
    sections = rule.doc_sections()
    doc = rule.doc()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": sections.get("What it does") or rule.summary},
        "help": {"text": doc or rule.summary, "markdown": doc or rule.summary},
        "defaultConfiguration": {"level": LEVELS[rule.severity],
                                 "enabled": rule.default_enabled},
        **({"helpUri": rule.references[0]} if rule.references else {}),
        "properties": {"tags": ["postgresql"]},
    }


def _region(file: SourceFile | None, start: int, end: int) -> dict:
    if file is None:
        return {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
    start_line, start_column = file.position(start)
    end_line, end_column = file.position(end)
    return {"startLine": start_line, "startColumn": start_column, "endLine": end_line,
            "endColumn": end_column}


def _result(f: Finding, file: SourceFile | None, uri: str, rule_index: int | None,
            fingerprint: str) -> dict:
    # A file outside the repository (given by absolute path) gets an absolute file: URI.
    artifact = {"uri": Path(uri).as_uri()} if os.path.isabs(uri) else \
        {"uri": quote(uri), "uriBaseId": SRCROOT}
    region = {"startLine": f.row or 1, "startColumn": f.column or 1,
              "endLine": f.end_row or f.row or 1, "endColumn": f.end_column or f.column or 1}
    result: dict = {"ruleId": f.code}
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    result.update({
        "level": LEVELS[f.severity],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {"artifactLocation": artifact, "region": region}}],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
    })
    fix = f.fix
    if fix is not None and fix.applicable and file is not None:
        result["fixes"] = [{
            "description": {"text": fix.title},
            "artifactChanges": [{
                "artifactLocation": dict(artifact),
                "replacements": [{"deletedRegion": _region(file, e.start, e.end),
                                  "insertedContent": {"text": e.content}} for e in fix.edits],
            }],
            "properties": {"applicability": fix.applicability.value},
        }]
    properties = {}
    if f.help:
        properties["help"] = f.help
    if fix is not None:
        properties["fix"] = {"title": fix.title, "applicability": fix.applicability.value}
        if fix.suggestion:
            properties["fix"]["suggestion"] = fix.suggestion
    if properties:
        result["properties"] = properties
    return result


def build(findings: list[Finding], files: dict[str, SourceFile], root: str | None = None,
          baselined: int = 0) -> dict:
    from pglint.registry import all_rules

    root = root or repository_root()
    rules = list(all_rules())
    index = {r.code: i for i, r in enumerate(rules)}
    prints = fingerprints(findings, files, root)
    results = [_result(f, files.get(f.path), repository_path(f.path, root), index.get(f.code), p)
               for f, p in zip(findings, prints)]
    run: dict = {
        "tool": {"driver": {"name": "pglint", "version": __version__,
                            "semanticVersion": __version__,
                            "rules": [_rule_descriptor(r) for r in rules]}},
        "originalUriBaseIds": {SRCROOT: {"uri": Path(root).as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if baselined:
        run["properties"] = {"baselined": baselined}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(findings: list[Finding], files: dict[str, SourceFile], root: str | None = None,
           baselined: int = 0) -> str:
    return json.dumps(build(findings, files, root, baselined), indent=2, ensure_ascii=False)


def report(run: RunReport, settings: ReportSettings) -> str:
    return render(run.findings, run.files, baselined=run.baselined) + "\n"
