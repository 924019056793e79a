"""The reference docs cover what a plugin developer can use: every hook, every public
`hub.sources` helper and every Observation field is documented, the walk-through's code
is the tested connector, and the repository never points outside itself."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import hub.hookspecs
import hub.records
import hub.sources

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_readme_links_every_page_of_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert pages == ["architecture.md", "connector-walkthrough.md", "hooks.md",
                     "observation.md"]
    assert [p for p in pages if f"](docs/{p})" not in readme] == []


def test_every_hook_has_its_section_with_its_signature() -> None:
    hooks = text("hooks.md")
    specs = [name for name, _ in inspect.getmembers(hub.hookspecs, inspect.isfunction)
             if name.startswith("crmhub_")]
    assert len(specs) == 8
    for name in specs:
        parameters = ", ".join(inspect.signature(getattr(hub.hookspecs, name)).parameters)
        assert f"### {name}\n" in hooks, name
        assert f"`{name}({parameters}" in hooks, name


def test_every_public_sources_helper_is_in_the_walkthrough_reference() -> None:
    reference = text("connector-walkthrough.md").split("## Reference")[1]
    missing = [name for name in hub.sources.__all__
               if not re.search(rf"`{name}[`(]", reference)]
    assert missing == []


MODELS = [model for _, model in inspect.getmembers(hub.records, inspect.isclass)
          if issubclass(model, BaseModel) and model.__module__ == "hub.records"
          and not model.__name__.startswith("_")]


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_every_observation_field_is_documented(model: type[BaseModel]) -> None:
    observation = text("observation.md")
    missing = [field for field in model.model_fields
               if f"`{model.__name__}.{field}`" not in observation]
    assert missing == []


def test_the_walkthroughs_connector_is_the_one_the_tests_run() -> None:
    code = (ROOT / "tests" / "sources" / "acme.py").read_text(encoding="utf-8")
    body = code[code.index("from __future__"):]
    assert f"```python\n{body}```" in text("connector-walkthrough.md")
    lines = [line for line in body.splitlines() if line.strip()]
    assert len(lines) <= 40  # the settings, the declarations and the mapping


def test_nothing_in_the_repository_points_at_notes_outside_it() -> None:
    outside = re.compile(
        r"DESIGN(\.md| §)|STYLE\.md|SOURCES\.md|\.\./shared|\bissues? \d+\b", re.IGNORECASE)
    files = [p for pattern in ("hub/**/*.py", "plugins/**/*.py", "tests/**/*.py", "*.md",
                               "docs/*.md", "config/**/*.toml", "systemd/*")
             for p in ROOT.glob(pattern) if p.is_file() and p != Path(__file__)]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if outside.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert offenders == []
