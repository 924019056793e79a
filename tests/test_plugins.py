"""The plugin system: entry points loaded one by one, faulty plugins reported and skipped."""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner

from hub import PROJECT_NAME, hookimpl, hookspecs
from hub.cli.main import main
from hub.connectors import Connector
from hub.plugins import HubPlugins


def fake_distribution(root: Path, dist: str, plugins: dict[str, str]) -> None:
    """A third-party distribution on sys.path: one module per plugin + entry points."""
    info = root / f"{dist}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = ["[crmhub]"]
    for name, source in plugins.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
        lines.append(f"{name.removeprefix('hub_')} = {name}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


GOOD = '''
from hub import hookimpl
from hub.connectors import Connector

class Fax(Connector):
    kind = "fax"

@hookimpl
def crmhub_register_connectors():
    return [Fax]
'''
BROKEN_IMPORT = "import module_that_does_not_exist\n"
BAD_SIGNATURE = '''
from hub import hookimpl

@hookimpl
def crmhub_on_event(event, unexpected_argument):
    pass
'''
UNKNOWN_HOOK = '''
from hub import hookimpl

@hookimpl
def crmhub_on_evnt(event):
    pass
'''


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_distribution(tmp_path, "crmhub_fake", {
        "hub_goodfax": GOOD, "hub_broken": BROKEN_IMPORT, "hub_badsig": BAD_SIGNATURE,
        "hub_typo": UNKNOWN_HOOK})
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_faulty_third_party_plugins_are_reported_by_name_and_the_rest_load(
        third_party: Path) -> None:
    plugins = HubPlugins.load()
    infos = plugins.infos
    assert infos["broken"].error is not None and "import failed" in infos["broken"].error
    assert "ModuleNotFoundError" in infos["broken"].error
    assert infos["badsig"].error is not None and "unexpected_argument" in infos["badsig"].error
    assert infos["typo"].error == "unknown hook(s): crmhub_on_evnt"
    assert infos["goodfax"].ok and infos["goodfax"].version == "1.2.3"
    kinds = plugins.connector_classes()
    assert "fax" in kinds and "csv" in kinds  # built-ins load through the same entry points


def test_blocked_plugin_is_not_loaded(third_party: Path) -> None:
    plugins = HubPlugins.load(blocked={"goodfax"})
    assert "goodfax" not in plugins.infos and "fax" not in plugins.connector_classes()


def test_crmhub_plugins_lists_name_version_hooks_and_errors(third_party: Path) -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["goodfax"]["hooks"] == ["crmhub_register_connectors"]
    assert by_name["goodfax"]["version"] == "1.2.3"
    assert "import failed" in by_name["broken"]["error"]
    assert data["connector_kinds"]["fax"] == "goodfax"


class _Registers:
    def __init__(self, *classes: type):
        self.classes = classes

    @hookimpl
    def crmhub_register_connectors(self) -> list[type]:
        return list(self.classes)


def _connector(kind: str) -> type[Connector]:
    return type(f"C_{kind}", (Connector,), {"kind": kind})


def test_kind_clash_names_both_plugins_and_keeps_the_first() -> None:
    first, second = _connector("dup"), _connector("dup")
    plugins = HubPlugins.load(entry_points=False,
                              extra=[("alpha", _Registers(first)), ("beta", _Registers(second))])
    assert plugins.connector_classes()["dup"] is first
    error = plugins.infos["beta"].error or ""
    assert "alpha" in error and "beta" in error and "'dup'" in error


def test_uppercase_kind_is_rejected() -> None:
    plugins = HubPlugins.load(entry_points=False, extra=[("p", _Registers(_connector("Gmail")))])
    assert "Gmail" not in plugins.connector_classes()
    assert "lowercase" in (plugins.infos["p"].error or "")


def test_registration_hook_that_raises_disables_only_that_plugin() -> None:
    class Exploding:
        @hookimpl
        def crmhub_register_connectors(self) -> list[type]:
            raise RuntimeError("boom")

    plugins = HubPlugins.load(entry_points=False, extra=[
        ("bad", Exploding()), ("good", _Registers(_connector("ok")))])
    assert "ok" in plugins.connector_classes()
    assert "RuntimeError: boom" in (plugins.infos["bad"].error or "")


def test_event_hook_exception_does_not_stop_other_plugins() -> None:
    received: list[dict[str, Any]] = []

    class Raises:
        @hookimpl
        def crmhub_on_event(self, event: dict[str, Any]) -> None:
            raise ValueError("nope")

    class Records:
        @hookimpl
        def crmhub_on_event(self, event: dict[str, Any]) -> None:
            received.append(event)

    plugins = HubPlugins.load(entry_points=False, extra=[("r", Raises()), ("ok", Records())])
    failed = plugins.on_event({"type": "contact.created"})
    assert failed == ["r"] and received == [{"type": "contact.created"}]


def hook_specs() -> dict[str, Any]:
    """Every hook as pluggy knows it: name -> spec (its function, argnames and options)."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return {name: caller.spec for name, caller in vars(pm.hook).items()
            if caller.spec is not None}


def test_every_function_of_hookspecs_is_a_hook_pluggy_knows() -> None:
    functions = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
                 if name.startswith("crmhub_")]
    assert sorted(hook_specs()) == functions and len(functions) == 8


def test_every_hook_has_a_docstring_saying_when_it_is_called_its_params_and_return() -> None:
    for name, spec in hook_specs().items():
        doc = spec.function.__doc__ or ""
        assert doc.startswith("Called") and "Return" in doc, name
        assert all(f":param {arg}:" in doc for arg in spec.argnames), name
        assert not spec.opts["firstresult"] or "stops at first non-None" in doc, name


def test_sinks_strategies_and_comparators_are_collected_by_name() -> None:
    class WebhookSink:
        name = "webhook"

    class RoundRobin:
        name = "round_robin"

    class Soundex:
        name = "soundex"
        levels = ("missing", "same", "other")
        m = (1.0, 0.9, 0.1)
        u = (1.0, 0.1, 0.9)

    class Registers:
        @hookimpl
        def crmhub_register_sinks(self) -> list[type]:
            return [WebhookSink]

        @hookimpl
        def crmhub_register_assignment_strategies(self) -> list[type]:
            return [RoundRobin]

        @hookimpl
        def crmhub_register_comparators(self) -> list[type]:
            return [Soundex]

    plugins = HubPlugins.load(entry_points=False, extra=[("extras", Registers())])
    assert plugins.sink_classes() == {"webhook": WebhookSink}
    assert plugins.strategy_classes() == {"round_robin": RoundRobin}
    assert plugins.comparator_classes() == {"soundex": Soundex}


def test_a_comparator_replacing_a_built_in_is_left_out_and_matching_still_runs(
        tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from hub.config import HubConfig
    from hub.ingest.pipeline import Pipeline

    class Email:  # would replace the built-in e-mail comparator
        name = "email"
        levels = ("missing", "same")
        m = (1.0, 0.9)
        u = (1.0, 0.1)

    class Broken:
        name = "broken"

    class Registers:
        @hookimpl
        def crmhub_register_comparators(self) -> list[type]:
            return [Email, Broken]

    plugins = HubPlugins.load(entry_points=False, extra=[("clash", Registers())])
    assert plugins.comparator_classes() == {}
    assert "'email' is built in" in str(plugins.infos["clash"].error)
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    Pipeline(engine, HubConfig(), plugins)  # no longer raises when the hub opens
    engine.dispose()


def test_the_daemon_calls_startup_and_shutdown_once_each(tmp_path: Path) -> None:
    from hub.service.daemon import Daemon
    from hub.service.runtime import Hub

    calls: list[str] = []

    class Lifecycle:
        @hookimpl
        def crmhub_startup(self, hub: Any) -> None:
            calls.append(f"startup:{len(hub.config.connectors)}")

        @hookimpl
        def crmhub_shutdown(self, hub: Any) -> None:
            calls.append("shutdown")

    config = tmp_path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "sqlite:///{tmp_path / "hub.db"}"\n')
    plugins = HubPlugins.load(extra=[("lifecycle", Lifecycle())])
    daemon = Daemon(config, Hub.open(config, plugins=plugins))
    daemon.stopping = True  # as if SIGTERM came at once
    assert daemon.serve() == 0
    assert calls == ["startup:0", "shutdown"]


def hookimpls_in(tree: ast.AST) -> Iterator[tuple[str, list[str]]]:
    """(hook name, argument names) of each ``@hookimpl`` function in ``tree``, and in the
    plugin sources its strings hold (the modules tests write for a plugin to import)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                "@hookimpl" in node.value:
            with contextlib.suppress(SyntaxError):
                yield from hookimpls_in(ast.parse(textwrap.dedent(node.value)))
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "hookimpl" for d in node.decorator_list):
            yield node.name, [a.arg for a in node.args.args if a.arg != "self"]


def test_every_hook_is_implemented_somewhere_in_the_tests() -> None:
    """Each hook has an implementation in the tests that pluggy accepts for its spec."""
    specs = hook_specs()
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for path in Path(__file__).parent.rglob("*.py"):
        for name, args in hookimpls_in(ast.parse(path.read_text(encoding="utf-8"))):
            if name not in specs:
                continue  # a misspelt hook, as a test of that error writes on purpose
            stub = Stub(name, args)
            with contextlib.suppress(pluggy.PluginValidationError):  # a bad signature
                pm.register(stub, name=f"{path.name}:{name}:{id(stub)}")
    implemented = {name for name, caller in vars(pm.hook).items() if caller.get_hookimpls()}
    assert sorted(set(specs) - implemented) == []


class Stub:
    """A plugin with one hook implementation of the given signature, for pluggy to check
    (pluggy reads the argument names from the function's code)."""

    def __init__(self, name: str, args: list[str]):
        def nothing() -> None:
            return None

        code = nothing.__code__.replace(co_argcount=len(args), co_varnames=tuple(args),
                                        co_nlocals=len(args))
        setattr(self, name, hookimpl(types.FunctionType(code, {}, name)))
