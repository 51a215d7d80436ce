"""Which SQL files a sqlc configuration gives to another database engine.

sqlc (`sqlc.yaml`, `sqlc.yml`, `sqlc.json`) lists, per database, its `engine` (postgresql,
mysql, sqlite) and the `schema` and `queries` paths it reads. Files it reads for MySQL or
SQLite are not PostgreSQL: pglint gives them the other-dialect role instead of reporting their
`?` placeholders as syntax errors. Read with a small reader of the two shapes sqlc documents
(version 1 `packages:` and version 2 `sql:` lists), not a YAML library.
"""

from __future__ import annotations

import json
import os
import re

CONFIG_NAMES = frozenset({"sqlc.yaml", "sqlc.yml", "sqlc.json"})

_ITEM = re.compile(r"^([ \t]*)-[ \t]+(?=[\"']?\w+[\"']?[ \t]*:)", re.MULTILINE)
_KEY = re.compile(r"^[ \t]*-?[ \t]*[\"']?(engine|schema|queries)[\"']?[ \t]*:[ \t]*(.*)$",
                  re.MULTILINE)
_LIST_ENTRY = re.compile(r"^[ \t]*-[ \t]+(.+?)[ \t]*$")


def other_engine_paths(config_path: str, text: str) -> list[tuple[str, str]]:
    """(absolute path, engine) of each `schema`/`queries` path the configuration at
    `config_path` reads for an engine other than PostgreSQL. A configuration it cannot read
    gives nothing."""
    folder = os.path.dirname(os.path.abspath(config_path))
    try:
        items = _json_items(text) if config_path.endswith(".json") else _yaml_items(text)
    except (ValueError, AttributeError, TypeError):
        return []
    out = []
    for engine, paths in items:
        if engine and engine.lower() not in ("postgresql", "postgres"):
            out.extend((os.path.normpath(os.path.join(folder, p)), engine.lower())
                       for p in paths if p)
    return out


def _json_items(text: str) -> list[tuple[str, list[str]]]:
    data = json.loads(text)
    items = data.get("sql") or data.get("packages") or []
    return [(str(item.get("engine") or ""), _strings(item.get("schema")) +
             _strings(item.get("queries"))) for item in items if isinstance(item, dict)]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _yaml_items(text: str) -> list[tuple[str, list[str]]]:
    """The entries of the `sql:`/`packages:` list: each runs from its `- key:` line to the next
    at the same indentation."""
    starts = list(_ITEM.finditer(text))
    if not starts:
        return []
    indent = min(len(m.group(1)) for m in starts)
    bounds = [m.start() for m in starts if len(m.group(1)) == indent] + [len(text)]
    items = []
    for start, end in zip(bounds, bounds[1:]):
        chunk = text[start:end]
        engine, paths = "", []
        lines = chunk.splitlines()
        for i, line in enumerate(lines):
            key = _KEY.match(line)
            if key is None:
                continue
            name, value = key.group(1), _unquoted(key.group(2))
            if name == "engine":
                engine = value
            elif value.startswith("["):
                paths.extend(_unquoted(v) for v in value.strip("[]").split(","))
            elif value:
                paths.append(value)
            else:  # a block list on the lines that follow
                for following in lines[i + 1:]:
                    entry = _LIST_ENTRY.match(following)
                    if entry is None or ":" in entry.group(1):
                        break
                    paths.append(_unquoted(entry.group(1)))
        items.append((engine, paths))
    return items


def _unquoted(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" \
        else value
