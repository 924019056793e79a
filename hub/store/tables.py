"""The table registry: every ORM model module, imported in one place.

Each module declares its tables on :class:`hub.store.model.Base`; ``Base.metadata`` holds
all of them only once every such module is imported. Whatever needs the whole schema
(Alembic's environment, the check that the migrations match the model) imports
:data:`metadata` from here rather than relying on import side effects elsewhere.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from hub.routing import model as routing
from hub.store import model as core

MODULES = (core, routing)

metadata: MetaData = core.Base.metadata
