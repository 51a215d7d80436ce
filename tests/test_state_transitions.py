"""PGL205 corners its embedded examples do not show: where the suggested guard is written, and
when no fix is offered."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import parse_settings


def _findings(tmp_path: Path, files: dict[str, str]) -> list:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    settings = parse_settings({"select": ["PGL205"]}).with_overrides(root=tmp_path)
    result = engine.lint([tmp_path], settings)
    assert not result.internal_errors, result.internal_errors
    return [f for f in result.findings if f.code == "PGL205"]


def test_guard_follows_a_masked_parameter_whole(tmp_path: Path) -> None:
    # pgtyped's `:orderId!` is read as `$1` and blanks: the guard goes after the name.
    found = _findings(tmp_path, {"queries/orders.sql": (
        "/* @name pay */\n"
        "UPDATE orders SET status = 'paid' WHERE order_id = :orderId! AND status = 'new';\n\n"
        "/* @name ship */\n"
        "UPDATE orders SET status = 'shipped' WHERE order_id = :orderId!\n"
        "RETURNING order_id;\n")})
    assert len(found) == 1
    suggestion = found[0].fix.suggestion
    assert suggestion.startswith("UPDATE orders SET status = 'shipped' "
                                 "WHERE order_id = :orderId!\n  AND status = 'paid'\n"
                                 "RETURNING order_id;"), suggestion


def test_no_fix_without_a_prior_state(tmp_path: Path) -> None:
    # The only guarded transition leads to the value being set: no prior state to show, and
    # a placeholder is not a state.
    found = _findings(tmp_path, {"queries/jobs.sql": (
        "UPDATE jobs SET state = 'done' WHERE id = $1 AND state = 'running';\n"
        "UPDATE jobs SET state = 'done' WHERE id = $1;\n")})
    assert len(found) == 1
    assert found[0].fix is None
    assert "<prior state>" not in found[0].help


def test_skipping_rows_that_hold_the_value_is_no_state_machine(tmp_path: Path) -> None:
    files = {"queries/subs.sql": (
        "UPDATE subs SET status = 'unsubscribed' WHERE list_id = $1 AND status <> 'unsubscribed';\n"
        "UPDATE subs SET status = 'confirmed' WHERE id = $1;\n")}
    assert _findings(tmp_path, files) == []
    # A guard on another state is.
    files["queries/subs.sql"] += "UPDATE subs SET status = 'paused' WHERE id = $1 AND status = 'confirmed';\n"
    assert [f.row for f in _findings(tmp_path, files)] == [2]
