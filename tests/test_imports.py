"""Every module of crmhub and of its built-in plugins imports on its own, first.

An import cycle can hide behind import order: ``import hub.a`` works when ``hub.b`` happened
to be imported before, and fails in a process that starts with ``hub.a``. So each module is
imported first in a process of its own: a fresh interpreter per worker imports the
third-party libraries crmhub uses (never a ``hub`` module; checked), then forks one child
per module, which imports that module and nothing else of ours. A fork of an interpreter
that has loaded no crmhub code is, for crmhub's imports, a fresh interpreter, at a few
milliseconds instead of a second of start-up per module.

Not imported: ``hub.migrations.env`` (Alembic executes it inside a configured migration
context; ``crmhub db upgrade`` covers it) and ``hub.cli.__main__`` (running it is running
the command; ``python -m hub.cli`` is exercised by the CLI tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIPPED = {"hub.migrations.env", "hub.cli.__main__"}
WORKERS = 4

# Runs in a fresh interpreter: preload third-party libraries, then one forked child per
# module named on stdin; prints {module: error or null} as JSON.
RUNNER = r"""
import importlib, json, os, sys, traceback
for name in ("sqlalchemy", "sqlalchemy.orm", "alembic", "pydantic", "pydantic_settings",
             "click", "pluggy", "requests", "tenacity", "phonenumbers", "email_validator",
             "rapidfuzz", "jellyfish", "pycountry", "nameparser", "cleanco", "vobject",
             "charset_normalizer", "prometheus_client", "orjson"):
    try:
        importlib.import_module(name)
    except Exception:
        pass
loaded = sorted(m for m in sys.modules if m == "hub" or m.startswith(("hub.", "hub_")))
assert not loaded, f"crmhub modules loaded before the test: {loaded}"
results = {}
for module in sys.stdin.read().split():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(module)
            message = b""
        except BaseException:
            message = traceback.format_exc().encode()
        os.write(write, message)
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    error = b"".join(chunks).decode()
    if not error and status != 0:
        error = f"the child exited with status {status}"
    results[module] = error or None
print(json.dumps(results))
"""


def modules() -> list[str]:
    found = []
    plugins = [p for p in sorted((REPO / "plugins").glob("hub_*")) if p.is_dir()]
    roots = [(REPO / "hub", REPO)] + [(p, p.parent) for p in plugins]
    for package, base in roots:
        for path in sorted(package.rglob("*.py")):
            if "versions" in path.relative_to(package).parts:  # migration scripts, not modules
                continue
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name not in SKIPPED:
                found.append(name)
    return found


def run(batch: list[str]) -> dict[str, str | None]:
    done = subprocess.run([sys.executable, "-c", RUNNER], input=" ".join(batch),
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    results: dict[str, str | None] = json.loads(done.stdout)
    return results


def test_every_module_imports_on_its_own() -> None:
    names = modules()
    assert "hub.cli.main" in names and "hub_csv.connector" in names
    batches = [names[i::WORKERS] for i in range(WORKERS)]
    results: dict[str, str | None] = {}
    with ThreadPoolExecutor(WORKERS) as pool:
        for part in pool.map(run, batches):
            results.update(part)
    assert sorted(results) == sorted(names)
    failed = {name: error for name, error in results.items() if error}
    assert not failed, "modules that do not import on their own:\n" + "\n".join(
        f"--- {name}\n{error}" for name, error in sorted(failed.items()))
