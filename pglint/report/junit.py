"""JUnit XML for CI systems that display test reports: a testsuite per file with findings and
a failing testcase per finding. A clean run is one passing testcase, so the CI shows that the
check ran rather than an empty report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pglint.baseline import repository_path, repository_root
from pglint.finding import Finding
from pglint.report import ReportSettings, RunReport
from pglint.report.text import xml_safe


def build(findings: list[Finding], file_count: int, root: str | None = None) -> ET.Element:
    root = root or repository_root()
    suites = ET.Element("testsuites", name="pglint", tests=str(max(1, len(findings))),
                        failures=str(len(findings)), errors="0")
    if not findings:
        suite = ET.SubElement(suites, "testsuite", name="pglint", tests="1", failures="0",
                              errors="0", skipped="0")
        ET.SubElement(suite, "testcase", name="no findings", classname="pglint")
        suite.set("files", str(file_count))
        return suites
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(repository_path(f.path, root), []).append(f)
    for path, group in by_path.items():
        suite = ET.SubElement(suites, "testsuite", name=path, tests=str(len(group)),
                              failures=str(len(group)), errors="0", skipped="0")
        for f in group:
            case = ET.SubElement(suite, "testcase",
                                 name=f"{f.code} {f.name} at {f.row}:{f.column}",
                                 classname=path, file=path, line=str(f.row))
            failure = ET.SubElement(case, "failure", message=f.message, type=f.code)
            body = f"{path}:{f.row}:{f.column}: {f.code} {f.message}"
            if f.help:
                body += "\n" + f.help
            if f.fix is not None:
                body += f"\n{f.fix.applicability.value} fix: {f.fix.title}"
                if f.fix.suggestion:
                    body += "\n" + f.fix.suggestion
            failure.text = body
    return suites


def render(findings: list[Finding], file_count: int, root: str | None = None) -> str:
    tree = build(findings, file_count, root)
    # What came from the linted files (paths, messages quoting their text) may hold control
    # characters: shown as pictures (XML 1.0 forbids most of them; a report must parse).
    for element in tree.iter():
        for key, value in element.attrib.items():
            element.set(key, xml_safe(value))
        if element.text:
            element.text = xml_safe(element.text)
    ET.indent(tree)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="unicode")


def report(run: RunReport, settings: ReportSettings) -> str:
    return render(run.findings, run.file_count) + "\n"
