"""`crmhub plugin new`: the generated project installs in a fresh virtualenv, passes its own
tests, and syncs through its entry point against a local API."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from hub.cli.main import main
from hub.scaffold import new_plugin
from tests.local_http import serving
from tests.sources.fake_api import FakeContacts


def test_plugin_new_refuses_a_name_that_is_no_kind_and_an_existing_project(
        tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["plugin", "new", "Acme-CRM", "-d", str(tmp_path)])
    assert bad.exit_code == 2 and "lowercase letters, digits and _" in bad.stderr
    made = runner.invoke(main, ["plugin", "new", "acme_crm", "-d", str(tmp_path)])
    assert made.exit_code == 0, made.output
    root = tmp_path / "crmhub-acme-crm"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md", "hub_acme_crm/__init__.py", "hub_acme_crm/connector.py",
        "pyproject.toml", "tests/test_connector.py"]
    assert 'acme_crm = "hub_acme_crm"' in (root / "pyproject.toml").read_text()
    again = runner.invoke(main, ["plugin", "new", "acme_crm", "-d", str(tmp_path)])
    assert again.exit_code == 2 and "exists already" in again.stderr


@pytest.fixture
def local_api() -> Iterator[str]:
    """The contacts API on a real socket (the plugin runs in another process)."""
    api = FakeContacts(5)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != "Bearer local-token":
                self.send_response(401)
                self.end_headers()
                return
            status, _, body = api.answer(SimpleNamespace(url=f"http://api{self.path}"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as base:
        yield base


def test_the_generated_plugin_installs_passes_its_tests_and_syncs_by_its_entry_point(
        tmp_path: Path, local_api: str) -> None:
    root = new_plugin("acme", tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    [target] = (venv / "lib").glob("python3*/site-packages")
    # crmhub and its libraries come from this environment; the plugin is installed into
    # the new one, so only its entry point can make it known.
    (target / "crmhub-under-test.pth").write_text("".join(
        f"import site; site.addsitedir({path!r})\n" for path in site.getsitepackages()))
    env = {**os.environ, "PYTHONPATH": ""}

    def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300, **kwargs)  # type: ignore[call-overload]

    installed = run("-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", str(root))
    assert installed.returncode == 0, installed.stderr
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests"))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "12 passed" in tests.stdout

    config = tmp_path / "crmhub.toml"
    config.write_text(f"""
[hub]
database_url = "sqlite:///{tmp_path / 'crmhub.db'}"

[[connectors]]
name = "acme-prod"
kind = "acme"
[connectors.settings]
base_url = "{local_api}"
token = {{ env = "ACME_TOKEN" }}
""", encoding="utf-8")
    env["ACME_TOKEN"] = "local-token"
    plugins = run("-m", "hub.cli.main", "plugins", "--json")
    assert json.loads(plugins.stdout)["connector_kinds"]["acme"] == "acme"
    synced = run("-m", "hub.cli.main", "sync", "acme-prod", "--json", "--config", str(config))
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert (report["ok"], report["created"], report["contacts_created"]) == (True, 5, 5)
    again = run("-m", "hub.cli.main", "sync", "acme-prod", "--json", "--config", str(config))
    assert json.loads(again.stdout)["received"] == 0  # the cursor: nothing new to read
