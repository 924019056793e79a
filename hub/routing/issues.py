"""Where a rules or scoring file is wrong: key paths that name rules and owners, hints.

``rules[2 name=big-accounts].when.all[1].company.employes`` points at the rule by index
and name (owners and teams by id), so an admin finds it in a long file.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from hub.config import ConfigIssue, did_you_mean

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"  # owner, team and queue ids


def label(items: list[Any], index: int, attr: str) -> str:
    item = items[index] if index < len(items) else None
    value = item.get(attr) if isinstance(item, dict) else None
    return f"[{index} {attr}={value}]" if value else f"[{index}]"


def key_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """``rules[2 name=big-accounts].when`` from a location in the raw file."""
    out = ""
    node: Any = raw
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            attr = "id" if out.endswith(("owners", "teams")) else "name"
            out += label(node, part, attr)
            node = node[part] if part < len(node) else None
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def validation_issues(exc: ValidationError, raw: dict[str, Any], file: str, prefix: tuple[Any, ...],
            model: type[BaseModel]) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors():
        # Not keys of the file: validator names and the tags of a union's forms, "(text)".
        loc = (*prefix, *(p for p in error["loc"]
                          if not (isinstance(p, str) and p.startswith(("function-", "(")))))
        message = error["msg"].removeprefix("Value error, ")
        hint = None
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            known = known_keys(model, error["loc"][:-1])
            hint = did_you_mean(str(error["loc"][-1]), known) or (
                f"known keys here: {', '.join(sorted(known))}" if known else None)
        elif error["type"] == "missing":
            message = "required key is missing"
            hint = f"add {error['loc'][-1]} = ..."
        elif error["type"] == "string_pattern_mismatch":
            pattern = str((error.get("ctx") or {}).get("pattern", ""))
            hint = "letters, digits, '_', '.', '@' and '-' only" if pattern == ID_PATTERN \
                else f"write it to match {pattern}"
        issues.append(ConfigIssue(file, key_path(loc, raw), message, hint))
    return issues


def known_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            return []
        annotation = info.annotation
        model = next((a for a in (annotation, *getattr(annotation, "__args__", ()))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
