"""Finds the rules: every Rule subclass in the modules of `pglint.rules`, and third-party rules
registered under the `pglint.rules` entry point group (as sqlfluff's plugins are)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from functools import lru_cache
from types import ModuleType
from typing import Any

from pglint.config import ConfigError, RuleCatalog
from pglint.rule import Rule, RuleOption

PLUGIN_GROUP = "pglint.rules"


class PluginError(ConfigError):
    """A third-party rule that cannot be used: pglint stops with exit code 2, naming it."""


def _rules_in(module: ModuleType) -> list[type[Rule]]:
    return [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
        and obj.__module__ == module.__name__ and getattr(obj, "code", None)
    ]


@lru_cache(maxsize=1)
def builtin_rules() -> tuple[type[Rule], ...]:
    """The rules of `pglint.rules`, by code."""
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


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """The built-in rules and the plugins' rules, by code. PluginError when a plugin cannot be
    loaded or reuses a code."""
    found = {rule.code: rule for rule in builtin_rules()}
    for rule in plugin_rules():
        if rule.code in found:
            owner = "a built-in rule" if found[rule.code].__module__.startswith("pglint.") \
                else f"{found[rule.code].__module__}.{found[rule.code].__name__}"
            raise PluginError(f"plugin rule {rule.__module__}.{rule.__name__} uses the code "
                              f"{rule.code}, already {owner}'s; a plugin's codes need a prefix "
                              "of their own")
        found[rule.code] = rule
    return tuple(sorted(found.values(), key=lambda r: r.code))


@lru_cache(maxsize=1)
def plugin_rules() -> tuple[type[Rule], ...]:
    """Rules from third-party packages registered under the `pglint.rules` entry point group:
    each entry point names a Rule subclass, or a module whose Rule subclasses are all rules."""
    if not _plugins_declared():
        return ()
    from importlib.metadata import entry_points

    rules: list[type[Rule]] = []
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: (e.name, e.value)):
        rules.extend(_load_plugin(entry))
    return tuple(rules)


def _load_plugin(entry: Any) -> list[type[Rule]]:
    where = f"plugin `{entry.name} = {entry.value}` (entry point group {PLUGIN_GROUP})"
    try:
        loaded = entry.load()
    except Exception as exc:  # noqa: BLE001 - whatever a third-party import raises
        raise PluginError(f"{where} cannot be loaded: {exc!r}") from None
    if isinstance(loaded, ModuleType):
        rules = _rules_in(loaded)
    elif isinstance(loaded, type) and issubclass(loaded, Rule) and getattr(loaded, "code", None):
        rules = [loaded]
    else:
        raise PluginError(f"{where} is neither a pglint.rule.Rule subclass with a code nor a "
                          "module of them")
    if not rules:
        raise PluginError(f"{where} holds no pglint.rule.Rule subclass with a code")
    return rules


def _plugins_declared() -> bool:
    """Whether an installed distribution may declare a `pglint.rules` entry point, read from
    the metadata folders on sys.path: importing importlib.metadata costs about 35 ms, a tenth
    of a small run, for the few users who have plugins."""
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(folder or ".", name, "entry_points.txt"),
                          encoding="utf-8", errors="replace") as file:
                    if f"[{PLUGIN_GROUP}]" in file.read():
                        return True
            except OSError:
                continue
    return False


@lru_cache(maxsize=1)
def codes_by_name() -> dict[str, str]:
    """Each rule's code by its name upper-cased (`MISSING-LOCK-TIMEOUT` -> `PGL301`): names are
    accepted wherever codes are."""
    return {rule.name.upper(): rule.code for rule in all_rules()}


@lru_cache(maxsize=1)
def squawk_aliases() -> dict[str, tuple[str, ...]]:
    """squawk's rule names upper-cased, each to the codes of the pglint rules that cover it
    (`CONSTRAINT-MISSING-NOT-VALID` -> PGL505, PGL506), in code order."""
    aliases: dict[str, tuple[str, ...]] = {}
    for rule in all_rules():
        for name in rule.squawk:
            aliases[name.upper()] = aliases.get(name.upper(), ()) + (rule.code,)
    return aliases


@lru_cache(maxsize=1)
def catalog() -> RuleCatalog:
    """What the configuration knows of the rules: codes, names and declared options (in code
    order). Two rules may list the same RuleOption; two declarations of one key are an error."""
    rules = all_rules()
    options: dict[str, RuleOption] = {}
    for rule in rules:
        for option in rule.options:
            known = options.setdefault(option.name, option)
            if known is not option:
                raise PluginError(f"the option `{option.name}` is declared twice (again by "
                                  f"{rule.code}): rules that share an option list one "
                                  "RuleOption")
    return RuleCatalog(tuple(rule.code for rule in rules), codes_by_name(), options,
                       squawk_aliases())


def rule_by_code(code: str) -> type[Rule] | None:
    code = code.upper()
    for rule in all_rules():
        if rule.code == code or rule.name == code.lower():
            return rule
    return None
