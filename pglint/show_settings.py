"""`pglint check --show-settings`: the settings that apply to a path, as the run sees them."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from pglint.discover import DEFAULT_EXCLUDES


def render_settings(path: Path, settings, cache_dir: Path | None) -> str:
    """`--show-settings`: every setting that applies to `path`, one `key = value` line each
    (TOML-like; table settings one line per entry), the defaults included."""
    def value(v) -> str:
        if v is None:
            return "none"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (tuple, list, frozenset, set)):
            items = sorted(v) if isinstance(v, (frozenset, set)) else v
            return "[" + ", ".join(value(i) for i in items) + "]"
        if isinstance(v, Path):
            return json.dumps(str(v))
        if isinstance(v, str):
            return json.dumps(v)
        if dataclasses.is_dataclass(v):  # (a field left empty, `rows-from`, is not shown)
            return "{ " + ", ".join(f"{f.name.replace('_', '-')} = {value(getattr(v, f.name))}"
                                    for f in dataclasses.fields(v)
                                    if getattr(v, f.name) != "") + " }"
        return str(v)

    rows: list[tuple[str, str]] = [
        ("path", value(path)),
        ("config-file", value(settings.config_path)),
    ]
    for f in dataclasses.fields(settings):
        key, v = f.name.replace("_", "-"), getattr(settings, f.name)
        if f.name == "config_path":
            continue
        if f.name == "exclude" and not v:
            rows.append((key, value(DEFAULT_EXCLUDES) + "  # the defaults"))
        elif f.name == "options":  # the rules' options, as top-level keys
            rows.extend((name, value(option)) for name, option in v.items())
        elif f.name in ("per_file_ignores", "runner_settings"):  # (key, value) pairs
            rows.extend((f"{key}.{json.dumps(name)}", value(item)) for name, item in v)
            if not v:
                rows.append((key, "{}"))
        elif isinstance(v, dict):
            rows.extend((f"{key}.{name}", value(item)) for name, item in sorted(v.items()))
            if not v:
                rows.append((key, "{}"))
        else:
            rows.append((key, value(v)))
    rows.append(("cache-dir", value(cache_dir) if cache_dir is not None else "none  # --no-cache"))
    jobs = os.environ.get("PGLINT_JOBS", "").strip()
    rows.append(("jobs", jobs + "  # PGLINT_JOBS" if jobs else '"auto"  # one per core'))
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k:<{width}} = {v}\n" for k, v in rows)
