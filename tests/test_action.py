"""The composite GitHub Action (action.yml): its run steps' exact shell scripts, with the
`${{ ... }}` expressions substituted as the runner would, executed with bash as GitHub runs
`shell: bash` steps, in a temporary checkout of the fixtures.

What cannot run here is stood in for: a fresh virtual environment on PATH plays
actions/setup-python, and a copy of this checkout plays the action's own folder
(`github.action_path`), which the install step pip-installs from.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.test_formats import validate_sarif

yaml = pytest.importorskip("yaml")  # PyYAML: a dependency of pre-commit, in the test extra

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
# Not part of the action as pip installs it; the benchmark corpus alone is megabytes.
NOT_SHIPPED = shutil.ignore_patterns(".git", "build", "*.egg-info", ".pglint_cache",
                                     "__pycache__", ".pytest_cache", ".benchmarks", "corpus",
                                     ".venv")


def substitute(text: str, context: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda m: context[m.group(1)], text)


class Runner:
    """Runs the action's steps as the GitHub runner would, in `workspace`."""

    def __init__(self, action_path: Path, python_bin: Path, workspace: Path) -> None:
        self.action_path = action_path
        self.python_bin = python_bin
        self.workspace = workspace

    def run(self, skip_install: bool = True,
            **inputs: str) -> tuple[list[subprocess.CompletedProcess], dict[str, str]]:
        """Run the steps with these inputs (the defaults otherwise) until one fails; return each
        step's result and the action's outputs."""
        context = {f"inputs.{name}": spec.get("default", "")
                   for name, spec in ACTION["inputs"].items()}
        context.update({f"inputs.{name.replace('_', '-')}": value
                        for name, value in inputs.items()})
        context["github.action_path"] = str(self.action_path)
        results: list[subprocess.CompletedProcess] = []
        for step in ACTION["runs"]["steps"]:
            if "uses" in step:
                continue  # actions/setup-python: the virtual environment stands in
            if skip_install and step.get("name") == "Install pglint":
                continue  # installed once, by the module's fixture
            output_file = self.workspace.parent / "github_output"
            output_file.write_text("", encoding="utf-8")
            env = {**os.environ, "GITHUB_OUTPUT": str(output_file),
                   "GITHUB_ACTION_PATH": str(self.action_path),
                   "GITHUB_WORKSPACE": str(self.workspace),
                   "PATH": f"{self.python_bin}{os.pathsep}{os.environ['PATH']}"}
            env.pop("PGLINT_CACHE_DIR", None)
            env.pop("VIRTUAL_ENV", None)
            env.update({key: substitute(str(value), context)
                        for key, value in step.get("env", {}).items()})
            script = self.workspace.parent / "step.sh"
            script.write_text(substitute(step["run"], context), encoding="utf-8")
            assert step["shell"] == "bash"
            result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                     str(script)], cwd=self.workspace, env=env,
                                    capture_output=True, text=True, timeout=600)
            results.append(result)
            for line in output_file.read_text(encoding="utf-8").splitlines():
                name, _, value = line.partition("=")
                context[f"steps.{step['id']}.outputs.{name}"] = value
            if result.returncode != 0:
                break
        outputs = {name: EXPRESSION.sub(lambda m: context.get(m.group(1), ""), spec["value"])
                   for name, spec in ACTION["outputs"].items()}
        return results, outputs


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    base = tmp_path_factory.mktemp("action")
    action_path = base / "action"
    shutil.copytree(ROOT, action_path, ignore=NOT_SHIPPED)
    env_dir = base / "python"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python_bin = env_dir / ("Scripts" if os.name == "nt" else "bin")
    workspace = base / "workspace"
    (workspace / ".git").mkdir(parents=True)  # the repository root: paths are relative to it
    shutil.copytree(ROOT / "fixtures" / "shop", workspace / "shop")
    shutil.copytree(ROOT / "fixtures" / "clean", workspace / "clean")
    actions = Runner(action_path, python_bin, workspace)
    (install, check), _ = actions.run(skip_install=False, paths="clean")
    assert install.returncode == 0, install.stdout + install.stderr
    assert check.returncode == 0, check.stdout + check.stderr
    return actions


def test_the_action_uses_setup_python_with_the_input_version():
    (setup, *_) = ACTION["runs"]["steps"]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    assert ACTION["runs"]["using"] == "composite"


def test_install_step_installs_pglint_from_the_action_path(runner):
    pglint = runner.python_bin / "pglint"
    assert pglint.exists()
    location = subprocess.run([str(runner.python_bin / "python"), "-c",
                              "import pglint; print(pglint.__file__)"],
                             cwd=runner.workspace, capture_output=True, text=True,
                             check=True).stdout
    assert str(runner.python_bin.parent) in location  # the installed copy, not this checkout


def test_github_annotations_by_default(runner):
    (check,), outputs = runner.run(paths="shop")
    assert check.returncode == 1, check.stderr
    lines = check.stdout.splitlines()
    assert lines and all(line.startswith(("::warning ", "::error ", "::notice ")) for line in lines)
    assert any(line.startswith("::warning file=shop/migrations/V30__counters.sql,line=3,")
               and "title=PGL104 missing-fillfactor" in line for line in lines)
    assert outputs == {"sarif-file": ""}
    assert not (runner.workspace / ".pglint_cache").exists()  # --no-cache: CI starts clean


def test_sarif_file_is_an_output(runner):
    (check,), outputs = runner.run(paths="shop clean", format="sarif", args="--select PGL104")
    assert check.returncode == 1, check.stderr
    assert outputs == {"sarif-file": "pglint.sarif"}
    data = validate_sarif((runner.workspace / "pglint.sarif").read_text(encoding="utf-8"))
    results = data["runs"][0]["results"]
    assert len(results) == 3 and {r["ruleId"] for r in results} == {"PGL104"}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert all(uri.startswith("shop/migrations/") for uri in uris)


def test_clean_paths_pass_and_inputs_cannot_inject_shell(runner):
    (check,), _ = runner.run(paths="clean", sarif_file="out/never.sarif")
    assert check.returncode == 0 and check.stdout == "", check.stderr
    (bad,), _ = runner.run(paths="clean; touch pwned $(touch pwned2) *")
    assert bad.returncode == 2  # `clean;`, `$(touch` ... are paths that do not exist
    assert not list(runner.workspace.glob("pwned*"))
    (unknown,), _ = runner.run(format="markdown")
    assert unknown.returncode == 2 and unknown.stdout.startswith("::error title=pglint::")


def test_exit_zero_through_args(runner):
    (check,), _ = runner.run(paths="shop", args="--exit-zero --select PGL101")
    assert check.returncode == 0 and "title=PGL101" in check.stdout
