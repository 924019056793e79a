"""The built-in assignment strategies, registered through the ``crmhub`` entry point
``routing`` exactly as a third-party plugin registers its own."""

from __future__ import annotations

from hub import hookimpl
from hub.routing.strategies import BUILTIN


@hookimpl
def crmhub_register_assignment_strategies() -> list[type]:
    return list(BUILTIN)
