"""One helper names a file from a folder (pglint.paths); nothing else computes it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pglint.paths import relative_or_absolute, relative_to

PACKAGE = Path(__file__).resolve().parent.parent / "pglint"


def test_relative_to_is_inside_the_folder_or_none():
    assert relative_to("/srv/app/db/V1.sql", "/srv/app") == os.path.join("db", "V1.sql")
    assert relative_to("/srv/app/db/V1.sql", "/srv/app/") == os.path.join("db", "V1.sql")
    assert relative_to("/srv/app", "/srv/app") is None  # the folder itself
    assert relative_to("/srv/application/V1.sql", "/srv/app") is None  # a prefix, not a folder
    assert relative_to("/srv/V1.sql", "/srv/app") is None  # never `../V1.sql`
    assert relative_to("/srv/V1.sql", "/") == "srv/V1.sql"


def test_relative_or_absolute_uses_slashes_and_keeps_outside_paths_whole(tmp_path):
    inside = tmp_path / "db" / "V1.sql"
    assert relative_or_absolute(inside, tmp_path) == "db/V1.sql"
    assert relative_or_absolute(str(inside), str(tmp_path) + os.sep) == "db/V1.sql"
    outside = tmp_path.parent / "elsewhere.sql"
    assert relative_or_absolute(outside, tmp_path) == outside.as_posix()


def test_no_other_module_computes_a_relative_path():
    """A sixth copy would drift from the others (a prefix taken for a folder, `../` paths)."""
    copies = re.compile(r"os\.path\.relpath\(|\.relative_to\(|len\((root|cwd|base)\) \+ 1")
    offenders = [str(path.relative_to(PACKAGE)) for path in sorted(PACKAGE.rglob("*.py"))
                 if path.name != "paths.py" and copies.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
