"""The tests exercise the working tree, not an installed copy of it.

CI installs the project non-editable; without pytest's ``pythonpath`` the ``hub`` package
would come from the tree (the current directory) and the plugin packages of ``plugins/``
from site-packages, so a stale install would hide a plugin's bug. The processes the tests
start (``python -m hub.cli``) must see the same tree.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGINS = sorted(path.parent.name for path in (REPO / "plugins").glob("*/__init__.py"))
# Every package the crmhub entry points name (the built-in plugins and the routing one).
ENTRY_POINTS = sorted({
    value.split(":")[0].split(".")[0] for value in tomllib.loads(
        (REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"][
        "crmhub"].values()})
PACKAGES = sorted({"hub", *PLUGINS, *ENTRY_POINTS})


def test_every_plugin_package_of_the_tree_is_a_crmhub_entry_point() -> None:
    assert {"hub_csv", "hub_notify"} <= set(PLUGINS) <= set(ENTRY_POINTS)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_is_imported_from_the_working_tree(package: str) -> None:
    path = Path(importlib.import_module(package).__file__ or "").resolve()
    assert path.is_relative_to(REPO), f"{package} imported from {path}, not from {REPO}"


def test_a_child_process_imports_the_working_tree_wherever_it_starts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import importlib, json, sys; print(json.dumps({p: "
         "importlib.import_module(p).__file__ for p in sys.argv[1:]}))", *PACKAGES],
        cwd=tmp_path, capture_output=True, text=True, check=True)
    found = {package: Path(path).resolve() for package, path in json.loads(done.stdout).items()}
    assert {package: path.is_relative_to(REPO) for package, path in found.items()} == dict.fromkeys(
        PACKAGES, True), found
