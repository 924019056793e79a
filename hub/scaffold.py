"""``crmhub plugin new NAME``: a connector plugin project that installs and passes its tests
as generated.

The project is a distribution ``crmhub-NAME`` with an import package ``hub_NAME``
registered in the ``crmhub`` entry-point group, a connector of kind ``NAME`` built on
:class:`hub.sources.RestConnector` for a paginated JSON contacts API, a test module that
runs the contract kit against that API mocked with ``responses``, and a README saying
what to change. Everything the author adapts is marked ``TODO``.
"""

from __future__ import annotations

import re
from pathlib import Path

from hub import __version__

__all__ = ["ScaffoldError", "new_plugin"]

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ScaffoldError(Exception):
    """The name or the target directory cannot be used."""


def new_plugin(name: str, directory: Path) -> Path:
    """Write the project ``crmhub-NAME`` under ``directory``; return its path."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"{name!r} is not a plugin name: lowercase letters, digits and "
                            "_, starting with a letter (it becomes the connector kind and "
                            "the package hub_NAME)")
    root = directory / f"crmhub-{name.replace('_', '-')}"
    if root.exists():
        raise ScaffoldError(f"{root} exists already: choose another name or directory")
    title = "".join(part.capitalize() for part in name.split("_"))
    values = {"name": name, "package": f"hub_{name}", "title": title, "upper": name.upper(),
              "dist": root.name, "version": __version__}
    for relative, template in _FILES.items():
        path = root / relative.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.lstrip("\n").format(**values), encoding="utf-8")
    return root


_PYPROJECT = '''
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "crmhub connector: {title} contacts"
requires-python = ">=3.11"
dependencies = ["crmhub>={version}"]

[project.optional-dependencies]
test = ["pytest>=8", "responses>=0.25"]

# crmhub finds the plugin here: the connector kind "{name}" is registered by {package}.
[project.entry-points.crmhub]
{name} = "{package}"

[tool.setuptools.packages.find]
include = ["{package}*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

_INIT = '''
"""crmhub plugin: the ``{name}`` connector kind."""

from __future__ import annotations

from hub import hookimpl
from {package}.connector import {title}Connector

__all__ = ["{title}Connector", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [{title}Connector]
'''

_CONNECTOR = '''
"""{title} contacts, changed since the last run, from a paginated JSON API.

TODO: adapt the declarations to the API (path, records_path, paginator, replication_key,
since_param, deleted_key) and person() to its fields.
"""

from __future__ import annotations

from typing import Any, ClassVar

from requests.auth import AuthBase

from hub.connectors import ConnectorSettings
from hub.secrets import SecretRef
from hub.sources import BearerToken, CursorToken, RestConnector, RestSettings


class {title}Settings(RestSettings):
    """The [connectors.settings] table: base_url, page_size, and the API token."""

    token: SecretRef


class {title}Connector(RestConnector):
    """{title} contacts, changed since the last run."""

    kind: ClassVar[str] = "{name}"
    Settings: ClassVar[type[ConnectorSettings]] = {title}Settings
    path = "/v1/contacts"
    records_path = "data"
    paginator = CursorToken(token_path="meta.next_cursor")
    replication_key = "updated_at"
    since_param = "updated_since"
    deleted_key = "archived"

    def authenticator(self) -> AuthBase:
        settings: {title}Settings = self.settings  # type: ignore[assignment]
        return BearerToken(self.secret(settings.token))

    def person(self, record: dict[str, Any]) -> dict[str, Any]:
        return {{"full_name": record["name"], "emails": [{{"value": record["email"]}}]}}
'''

_TESTS = '''
"""The {name} connector against its API mocked with responses: the crmhub contract kit,
and the mapping of one record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from hub.testing import ConnectorContract, ConnectorFactory, make_context
from {package} import {title}Connector

BASE = "https://api.{name}.example"


class FakeApi:
    """The API's contacts, sorted by (updated_at, id), with an inclusive updated_since
    filter and cursor-token pages; the contract kit changes them between two syncs."""

    def __init__(self, count: int) -> None:
        self.records: dict[str, dict[str, Any]] = {{}}
        self.minute = 0
        for _ in range(count):
            self.add()

    def _stamp(self) -> str:
        self.minute += 1
        return f"2026-03-01T09:{{self.minute:02d}}:00Z"

    def add(self) -> str:
        key = f"c{{len(self.records) + 1}}"
        self.records[key] = {{"id": key, "name": f"Person {{key}}",
                             "email": f"{{key}}@example.org", "updated_at": self._stamp(),
                             "archived": False}}
        return key

    def update(self, key: str) -> None:
        self.records[key].update(name=self.records[key]["name"] + " Jr",
                                 updated_at=self._stamp())

    def delete(self, key: str) -> None:
        self.records[key].update(archived=True, updated_at=self._stamp())

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = {{k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}}
        rows = sorted(self.records.values(), key=lambda r: (r["updated_at"], r["id"]))
        rows = [r for r in rows if r["updated_at"] >= query.get("updated_since", "")]
        start, limit = int(query.get("cursor", 0)), int(query.get("limit", 100))
        more = start + limit < len(rows)
        return 200, {{}}, json.dumps({{"data": rows[start:start + limit],
                                     "meta": {{"next_cursor": str(start + limit) if more
                                              else None}}}})


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi(6)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, f"{{BASE}}/v1/contacts",
                          callback=lambda request: fake.answer(request))
        yield fake


def factory() -> ConnectorFactory:
    settings = {title}Connector.Settings.model_validate(
        {{"base_url": BASE, "page_size": 2, "token": {{"env": "{upper}_TOKEN"}}}})
    return lambda: {title}Connector("{name}", settings,
                                    make_context(secrets={{"{upper}_TOKEN": "test-token"}}))


class Test{title}Contract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, api: FakeApi) -> ConnectorFactory:
        return factory()

    @pytest.fixture
    def source_changes(self, api: FakeApi) -> FakeApi:
        return api


def test_a_contact_becomes_a_person_with_its_name_and_email(api: FakeApi) -> None:
    first = next(iter(factory()().sync(None))).observations[0]
    assert first.external_id == "c1"
    assert first.person is not None and first.person.full_name == "Person c1"
    assert [e.value for e in first.person.emails] == ["c1@example.org"]
'''

_README = '''
# {dist}

A [crmhub](https://pypi.org/project/crmhub/) connector plugin: the `{name}` connector kind
reads contacts from the {title} API, incrementally (`updated_since`), with deletions.

## Install

```sh
python3 -m pip install .          # into crmhub's virtualenv
crmhub plugins                    # lists {name}
```

## Configure

```toml
# /etc/crmhub/conf.d/60-{name}.toml
[[connectors]]
name = "{name}"
kind = "{name}"
every = "15m"
[connectors.settings]
base_url = "https://api.{name}.example"
token = {{ env = "{upper}_TOKEN" }}     # a reference: the token itself is never in a file
```

Then `crmhub config check` and `crmhub sync {name}`.

## Test

```sh
python3 -m pip install '.[test]' && python3 -m pytest
```

The tests run crmhub's contract kit (`hub.testing.ConnectorContract`) against the API
mocked with `responses`: valid batches and cursors, nothing repeated or lost on resume,
and, through the real core, updates that keep their id and deletions that tombstone.

## Adapt it

`{package}/connector.py` is written for an API that pages with a cursor token and filters
on `updated_at`; change the declarations (`path`, `records_path`, `paginator`,
`replication_key`, `since_param`, `deleted_key`) and `person()` to your API, and
`FakeApi` in `tests/` to answer like it.
'''

_FILES = {
    "pyproject.toml": _PYPROJECT,
    "{package}/__init__.py": _INIT,
    "{package}/connector.py": _CONNECTOR,
    "tests/test_connector.py": _TESTS,
    "README.md": _README,
}
