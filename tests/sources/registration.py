"""A test's own connector kinds, loaded by every HubPlugins.load as if installed."""

from __future__ import annotations

from typing import Any

import pytest

from hub import hookimpl
from hub.connectors import Connector
from hub.plugins import HubPlugins


def register_connectors(monkeypatch: pytest.MonkeyPatch, name: str,
                        *classes: type[Connector]) -> None:
    """Until the test ends, every ``HubPlugins.load`` (the CLI's too) also loads a plugin
    ``name`` that registers ``classes``."""

    class Register:
        @hookimpl
        def crmhub_register_connectors(self) -> list[type[Connector]]:
            return list(classes)

    load = HubPlugins.load.__func__  # type: ignore[attr-defined]

    def loading(cls: type[HubPlugins], *args: Any, **kwargs: Any) -> HubPlugins:
        extra = [*kwargs.pop("extra", ()), (name, Register())]
        return load(cls, *args, extra=extra, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(HubPlugins, "load", classmethod(loading))
