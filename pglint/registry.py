"""Finds the rules: every Rule subclass in the modules of `pglint.rules`, and plugins."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from pglint.rule import Rule

PLUGIN_GROUP = "pglint.rules"


def _rules_in(module) -> list[type[Rule]]:
    return [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
        and obj.__module__ == module.__name__ and getattr(obj, "code", None)
    ]


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    import pglint.rules as package

    found: dict[str, type[Rule]] = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.ispkg:
            continue
        module = importlib.import_module(info.name)
        for rule in _rules_in(module):
            if rule.code in found:
                raise RuntimeError(f"rule code {rule.code} defined twice")
            found[rule.code] = rule
    return tuple(sorted(found.values(), key=lambda r: r.code))


def plugin_rules() -> tuple[type[Rule], ...]:
    """Rules from third-party packages registered under the `pglint.rules` entry point group.

    Looked up only when asked for (`--plugins`), since scanning installed distributions costs
    start-up time.
    """
    from importlib.metadata import entry_points

    rules: list[type[Rule]] = []
    for ep in entry_points(group=PLUGIN_GROUP):
        loaded = ep.load()
        rules.extend(_rules_in(loaded) if not isinstance(loaded, type) else [loaded])
    return tuple(rules)


@lru_cache(maxsize=1)
def codes_by_name() -> dict[str, str]:
    """Each rule's code by its name upper-cased (`MISSING-LOCK-TIMEOUT` -> `PGL301`): names are
    accepted wherever codes are."""
    return {rule.name.upper(): rule.code for rule in all_rules()}


def rule_by_code(code: str) -> type[Rule] | None:
    code = code.upper()
    for rule in all_rules():
        if rule.code == code or rule.name == code.lower():
            return rule
    return None
