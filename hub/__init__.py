"""crmhub: the integration hub core.

Plugins import :data:`hookimpl` from here to mark their hook implementations::

    from hub import hookimpl

    @hookimpl
    def crmhub_register_connectors():
        return [MyConnector]
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "crmhub"
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]
