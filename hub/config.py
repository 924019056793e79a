"""Configuration for admins: ``crmhub.toml`` + ``conf.d/*.toml`` + environment overrides.

Files are merged in file-name order (tables merge key by key, ``[[connectors]]`` arrays
concatenate); relative paths resolve against the directory of the file that names them.
``CRMHUB_DATABASE_URL``, ``CRMHUB_LOG_LEVEL`` and in general ``CRMHUB_<SECTION>__<KEY>``
override files. Unknown keys are errors. Every error names the file, the key path and a
hint, which is what ``crmhub config check`` prints.

The files are read here, with plain pydantic models, because every error must say which
*file* a key came from and the origin of each key is tracked while merging. The
environment layer is read by pydantic-settings (:class:`EnvironmentSettings`: prefix
``CRMHUB_``, ``__`` between nested keys, names in any case, a whole section as one JSON
variable such as ``CRMHUB_MATCH='{"review": 0.8}'``); what it reads is deep-merged over
the files' data before validation, so a cross-field check sees both layers and an error
in a value from the environment names the variable (``env CRMHUB_MATCH__REVIEW: ...``).
A value of one variable is read as TOML, falling back to a string
(``CRMHUB_HUB__OWN_DOMAINS='["acme.fr"]'``); the nested form wins over the
``CRMHUB_DATABASE_URL`` and ``CRMHUB_LOG_LEVEL`` shortcuts. A variable that a secret
reference names (``{ env = "CRMHUB_WEBHOOK_SECRET" }`` in a config file or in the rules
file) is a secret, never a setting, and so are ``CRMHUB_CONFIG`` (the main file) and
``CRMHUB_TEST_PG`` (the tests' server); any other ``CRMHUB_*`` variable that is not a
setting is an error.

Secret references themselves, systemd credentials included (``{ credential = "NAME" }``),
are resolved by :mod:`hub.secrets`, a small resolver reading ``$CREDENTIALS_DIRECTORY/NAME``
when the secret is needed, rather than by pydantic-settings' ``secrets_dir``: that maps
files to the fields of a settings model when the model is built (and strips every
surrounding blank), while a reference may sit in any connector's or sink's settings under
any name ``LoadCredential=`` chose, is read again at each use so a rotated credential is
picked up, and a missing one must say to add ``LoadCredential=``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from hub.match.survivorship import POLICIES, PolicyName, SurvivorshipPolicy
from hub.secrets import SecretRef

ENV_PREFIX = "CRMHUB_"
DEFAULT_CONFIG = Path("/etc/crmhub/crmhub.toml")
_ENV_SHORTCUTS = {"database_url": ("hub", "database_url"), "log_level": ("hub", "log_level")}
_ENV_SECTIONS = {"hub": ("log_level", '"debug"'), "match": ("review", "0.8")}  # and an example
_ENV_IGNORED = {"config", "test_pg"}  # the main file's path, the tests' PostgreSQL server
_NOT_A_SETTING = ("write CRMHUB_<SECTION>__<KEY>, e.g. CRMHUB_HUB__LOG_LEVEL (a variable a "
                  'secret reference names, { env = "..." }, is not read as a setting)')
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``did you mean 'x'?`` for the choice closest to a misspelt ``word``, if one is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"1h30m"``, ``"1d"`` or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{value!r} is not a duration; write e.g. \"30s\", \"5m\", \"1h30m\"")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSection(_Section):
    database_url: str | SecretRef = "sqlite:///crmhub.db"
    default_region: str | None = None
    own_domains: list[str] = Field(default_factory=list)
    own_numbers: list[str] = Field(default_factory=list)
    raw_retention_days: int = Field(default=365, ge=1)
    # Interactions (mail, calls, meetings) older than this are deleted; None keeps them.
    interaction_retention_days: int | None = Field(default=None, ge=1)
    rules: Path | None = None
    scoring: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    mask_pii: bool = True
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    workers: int = Field(default=4, ge=1, le=64)
    parallel_prepare: bool = True  # a sync normalises in a second process (a second core)
    run_timeout: float = 1800.0
    stop_timeout: float = 30.0
    max_backoff: float = 3600.0
    # The HTTP listener (health, readiness, metrics, webhooks); "" turns it off.
    listen: str = "127.0.0.1:8787"
    # The webhook inbox, a spool database of its own (default: beside the SQLite database,
    # else in $STATE_DIRECTORY, else beside the config file).
    inbox: Path | None = None
    inbox_retention_days: int = Field(default=7, ge=1)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            listen_address(value)
        return value

    @field_validator("run_timeout", "stop_timeout", "max_backoff", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | SecretRef) -> str | SecretRef:
        if isinstance(value, str):
            check_database_url(value)
        return value

    def url(self) -> str:
        """The database URL, resolving a secret reference (a password kept out of files)."""
        if isinstance(self.database_url, SecretRef):
            url = self.database_url.resolve()
            check_database_url(url)
            return url
        return self.database_url

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _check_region(value)

    @field_validator("own_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return sorted({d.strip().lower().removeprefix("@") for d in value if d.strip()})


def check_database_url(url: str) -> None:
    """Only SQLite and PostgreSQL, in SQLAlchemy's URL syntax."""
    try:
        backend = make_url(url).get_backend_name()
    except Exception:
        raise ValueError(f"{url.split('@')[-1]!r} is not a database URL; write "
                         "sqlite:///path/crmhub.db or postgresql+psycopg://user@host/db") from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{backend!r} databases are not supported: use sqlite or postgresql")


def _check_region(value: str | None) -> str | None:
    if value is None:
        return None
    if pycountry.countries.get(alpha_2=value.upper()) is None:
        raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code, e.g. \"FR\"")
    return value.upper()


def _check_policy(value: Any) -> Any:
    if isinstance(value, str) and value not in POLICIES:
        raise PydanticCustomError(
            "unknown_policy", "unknown survivorship policy '{policy}'",
            {"policy": value, "hint": did_you_mean(value, POLICIES) or
             f"use one of {', '.join(POLICIES)}"})
    return value


class SurvivorshipFields(_Section):
    """``[match.survivorship.fields]``: a policy per field; unlisted fields use the default.

    One key per field of ``hub.match.survivorship.FIELDS`` (a test keeps them in step), so
    a misspelt field is an unknown key with a "did you mean" hint.
    """

    given_name: PolicyName | None = None
    family_name: PolicyName | None = None
    full_name: PolicyName | None = None
    title: PolicyName | None = None
    birthday: PolicyName | None = None
    language: PolicyName | None = None
    country: PolicyName | None = None  # unset: follows the chosen address
    address: PolicyName | None = None
    company: PolicyName | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        return _check_policy(value)


class SurvivorshipSection(_Section):
    """``[match.survivorship]``: which source's value a golden field keeps."""

    default: PolicyName = "most_recent"
    source_priority: list[str] = Field(default_factory=list)  # connector names, first wins
    fields: SurvivorshipFields = Field(default_factory=SurvivorshipFields)

    @field_validator("default", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        return _check_policy(value)

    @model_validator(mode="after")
    def _priority_listed(self) -> SurvivorshipSection:
        twice = sorted({n for n in self.source_priority if self.source_priority.count(n) > 1})
        if twice:
            raise PydanticCustomError(
                "duplicate_source", "source_priority lists {names} twice",
                {"names": ", ".join(twice), "hint": "keep each connector once, first wins"})
        used = "source_priority" in (self.default, *self.policy().fields.values())
        if used and not self.source_priority:
            raise PydanticCustomError(
                "empty_priority", "the source_priority policy is used but no source is listed",
                {"hint": 'list connector names, first wins: source_priority = ["billing", ...]'})
        return self

    def policy(self) -> SurvivorshipPolicy:
        """The policy object survivorship runs with."""
        chosen = {name: rule for name, rule in self.fields.model_dump().items() if rule}
        return SurvivorshipPolicy(self.default, tuple(self.source_priority), chosen)


Veto = Literal["birth_date", "given_name", "email_domain", "handle", "mobile"]
VETOES: tuple[Veto, ...] = ("birth_date", "given_name", "email_domain", "handle", "mobile")


class MatchSection(_Section):
    auto_merge: float = Field(default=0.95, ge=0, le=1)
    review: float = Field(default=0.80, ge=0, le=1)
    identifiers: list[str] = Field(default_factory=list)
    key_cap: int = Field(default=100, ge=2)  # a key shared by more records stops matching
    # Records scored per incoming record: those sharing the most (and strongest) keys.
    max_candidates: int = Field(default=20, ge=1)
    # Conflicting evidence that forbids an automatic merge (the pair goes to review).
    vetoes: list[Veto] = Field(default_factory=lambda: list(VETOES))
    # The daemon trains the matcher by itself once the store holds `train_min_records`
    # person records, and again when it has grown by `retrain_growth` (0.5: by half)
    # since the last training; then `match run` re-examines the store with it.
    auto_train: bool = True
    train_min_records: int = Field(default=1000, ge=2)
    retrain_growth: float = Field(default=0.5, gt=0)
    survivorship: SurvivorshipSection = Field(default_factory=SurvivorshipSection)

    @model_validator(mode="after")
    def _ordered(self) -> MatchSection:
        if self.review > self.auto_merge:
            raise ValueError("review must not be above auto_merge")
        return self


class ConnectorConfig(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    kind: str
    every: float = 300.0
    timeout: float | None = None  # run deadline; [hub] run_timeout when unset
    enabled: bool = True
    route_new_contacts: bool = True
    default_region: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("every", "timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _check_region(value)


class PrivacySection(_Section):
    """``[privacy]``: the secret salt of the suppression hashes ``crmhub person forget``
    keeps (HMAC-SHA256 of each erased identifier). Required to forget anyone; once people
    were forgotten, syncs refuse to run without it (they could not recognise them)."""

    suppression_salt: SecretRef | None = None


class HubConfig(_Section):
    hub: HubSection = Field(default_factory=HubSection)
    match: MatchSection = Field(default_factory=MatchSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    connectors: list[ConnectorConfig] = Field(default_factory=list)

    @field_validator("connectors")
    @classmethod
    def _unique_names(cls, connectors: list[ConnectorConfig]) -> list[ConnectorConfig]:
        seen: set[str] = set()
        for connector in connectors:
            if connector.name in seen:
                raise ValueError(f"two connectors are named {connector.name!r}")
            seen.add(connector.name)
        return connectors

    def connector(self, name: str) -> ConnectorConfig:
        for connector in self.connectors:
            if connector.name == name:
                return connector
        known = ", ".join(c.name for c in self.connectors) or "none"
        raise KeyError(f"no connector named {name!r} (configured: {known})")


@dataclass(frozen=True)
class ConfigIssue:
    """One configuration error, as ``crmhub config check`` prints it."""

    file: str
    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}: {self.key}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass
class LoadedConfig:
    """A validated config and where each part came from."""

    config: HubConfig
    path: Path
    files: list[Path]
    connector_dirs: dict[str, Path] = field(default_factory=dict)
    connector_files: dict[str, str] = field(default_factory=dict)


@dataclass
class _Origins:
    keys: dict[tuple[str, ...], str] = field(default_factory=dict)
    connectors: list[str] = field(default_factory=list)
    dirs: dict[tuple[str, ...], Path] = field(default_factory=dict)
    connector_dirs: list[Path] = field(default_factory=list)

    def file_of(self, loc: tuple[Any, ...]) -> str:
        if (len(loc) >= 2 and loc[0] == "connectors" and isinstance(loc[1], int)
                and loc[1] < len(self.connectors)):
            return self.connectors[loc[1]]
        for size in range(len(loc), 0, -1):
            origin = self.keys.get(tuple(str(p) for p in loc[:size]))
            if origin:
                return origin
        return self.keys.get((), "?")


def config_files(path: Path) -> list[Path]:
    """The main file then ``conf.d/*.toml`` beside it, in file-name order."""
    conf_d = path.parent / "conf.d"
    extra = sorted(conf_d.glob("*.toml")) if conf_d.is_dir() else []
    return [path, *extra]


def _merge(target: dict[str, Any], data: dict[str, Any], file: str, directory: Path,
           origins: _Origins, prefix: tuple[str, ...] = ()) -> None:
    for key, value in data.items():
        path = (*prefix, key)
        if path == ("connectors",) and isinstance(value, list):
            target.setdefault("connectors", []).extend(value)
            origins.connectors.extend([file] * len(value))
            origins.connector_dirs.extend([directory] * len(value))
            continue
        if isinstance(value, dict) and isinstance(target.setdefault(key, {}), dict):
            origins.keys.setdefault(path, file)
            _merge(target[key], value, file, directory, origins, path)
            continue
        target[key] = value
        origins.keys[path] = file
        origins.dirs[path] = directory


class EnvironmentSettings(BaseSettings):
    """The ``CRMHUB_*`` environment layer: which variables are settings, and how named.

    Sections are raw tables, not the section models: they are merged over the files and
    validated with them by :class:`HubConfig`, so defaults never hide a file's value.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      case_sensitive=False)

    hub: dict[str, Any] = Field(default_factory=dict)
    match: dict[str, Any] = Field(default_factory=dict)
    database_url: Any = None  # shortcut for hub.database_url
    log_level: Any = None  # shortcut for hub.log_level


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source over the given variables, not os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(EnvironmentSettings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo | None,
                             value: Any) -> Any:
        """A whole section is JSON; one key's value stays text, read as TOML after the
        merge (pydantic-settings 2.3 would try it as JSON and fail on plain text)."""
        if field is not None and field is EnvironmentSettings.model_fields.get(field_name):
            return super().decode_complex_value(field_name, field, value)
        return value


def _env_path(var: str) -> tuple[str, ...] | None:
    """The key path a ``CRMHUB_*`` variable sets, or None when it is not a setting."""
    rest = var[len(ENV_PREFIX):].lower()
    if rest in _ENV_SHORTCUTS:
        return _ENV_SHORTCUTS[rest]
    path = tuple(rest.split("__"))
    return path if path[0] in _ENV_SECTIONS else None


def _env_layer(environ: Mapping[str, str], referenced: set[str], raw: dict[str, Any],
               origins: _Origins, issues: list[ConfigIssue]) -> list[str]:
    """Merge the settings the environment sets (read by pydantic-settings) over ``raw``.

    Variables in ``referenced`` (named by secret references) are not read. Returns the
    other ``CRMHUB_*`` variables that are not settings, for the caller to report.
    """
    settings: dict[str, str] = {}
    paths: dict[tuple[str, ...], str] = {}
    others: list[str] = []
    for var in sorted(environ):
        name = var[len(ENV_PREFIX):].lower()
        if var[:len(ENV_PREFIX)].upper() != ENV_PREFIX or var in referenced \
                or name in _ENV_IGNORED:
            continue
        path = _env_path(var)
        if path is None:
            others.append(var)
            continue
        settings[var] = environ[var]
        if name not in _ENV_SHORTCUTS or path not in paths:  # the nested form wins
            paths[path] = var
    try:
        layer = _EnvironSource(settings)()
    except ValueError:  # pydantic-settings' SettingsError, which 2.3 does not export
        # Only a whole section's JSON fails to parse (one key's value is TOML or text).
        sections = [v for v in sorted(settings) if len(_env_path(v) or ()) == 1]
        bad = [v for v in sections if not _parses(v, settings[v])]
        if not bad:
            raise
        for var in bad:
            section = var[len(ENV_PREFIX):].lower()
            key, example = _ENV_SECTIONS[section]
            issues.append(ConfigIssue(
                f"env {var}", section, "not valid JSON",
                f"write a JSON object, e.g. {var}='{{\"{key}\": {example}}}', or one "
                f"variable per key, e.g. {var}__{key.upper()}"))
        return others
    overrides: dict[str, Any] = {}
    for name, path in _ENV_SHORTCUTS.items():
        if name in layer:
            overrides.setdefault(path[0], {})[path[1]] = layer[name]
    for section in _ENV_SECTIONS:
        if section in layer:
            value = layer[section]
            current = overrides.get(section)
            overrides[section] = _deep_update(current, value) \
                if isinstance(current, dict) and isinstance(value, dict) else value
    _merge_env(raw, overrides, paths, origins, ())
    return others


def _parses(var: str, value: str) -> bool:
    """Whether pydantic-settings reads the one variable ``var`` without an error."""
    try:
        _EnvironSource({var: value})()
    except ValueError:
        return False
    return True


def _deep_update(target: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    merged = dict(target)
    for key, value in data.items():
        current = merged.get(key)
        merged[key] = _deep_update(current, value) \
            if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def _merge_env(target: dict[str, Any], data: dict[str, Any], paths: dict[tuple[str, ...], str],
               origins: _Origins, prefix: tuple[str, ...]) -> None:
    """Merge the environment's ``data`` into ``target``, each key's origin its variable."""
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(target.setdefault(key, {}), dict):
            _merge_env(target[key], value, paths, origins, path)
            continue
        var = next((paths[path[:n]] for n in range(len(path), 0, -1) if path[:n] in paths),
                   ENV_PREFIX + "__".join(path).upper())
        # One variable's value is TOML text; inside a JSON section it is already typed.
        target[key] = _env_value(value) if path in paths and isinstance(value, str) else value
        origins.keys[path] = f"env {var}"
        origins.dirs[path] = Path.cwd()


def _secret_env_names(value: Any) -> set[str]:
    """The variables that the secret references inside ``value`` name (``{ env = "X" }``)."""
    if isinstance(value, dict):
        if isinstance(value.get("env"), str) and set(value) <= {"env", "file", "credential"}:
            return {value["env"]}
        return set().union(*(_secret_env_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_secret_env_names(v) for v in value))
    return set()


def _referenced_env_names(raw: dict[str, Any], origins: _Origins) -> set[str]:
    """The variables secret references name in the config and in its rules file."""
    names = _secret_env_names(raw)
    hub = raw.get("hub")
    rules = hub.get("rules") if isinstance(hub, dict) else None
    if isinstance(rules, str) and rules:
        path = origins.dirs.get(("hub", "rules"), Path.cwd()) / rules
        with suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):  # reported later
            names |= _secret_env_names(tomllib.loads(path.read_text(encoding="utf-8")))
    return names


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _resolve_paths(raw: dict[str, Any], origins: _Origins) -> None:
    hub = raw.get("hub")
    if not isinstance(hub, dict):
        return
    for key in ("rules", "scoring", "inbox"):
        value = hub.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            hub[key] = str(origins.dirs.get(("hub", key), Path.cwd()) / value)
    url = hub.get("database_url")
    if isinstance(url, str):
        hub["database_url"] = resolve_sqlite_url(url, origins.dirs.get(("hub", "database_url")))


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8787`` for IPv6) as (host, port); ``ValueError`` otherwise."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port, e.g. 127.0.0.1:8787 or [::1]:8787")
    return host.strip("[]"), int(port)


def resolve_sqlite_url(url: str, base: Path | None) -> str:
    """``sqlite:///rel.db`` is relative to the file that names it (``sqlite:////abs`` stays)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:":
        return url
    path = url[len(prefix):]
    if path.startswith("/") or base is None:
        return url
    return prefix + str((base / path).resolve())


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, merge and validate the config; raise :class:`ConfigError` listing every issue."""
    environ = dict(os.environ) if environ is None else environ
    path = Path(path)
    issues: list[ConfigIssue] = []
    if not path.is_file():
        raise ConfigError([ConfigIssue(str(path), "(file)", "config file not found",
                                       "pass --config PATH or set CRMHUB_CONFIG")])
    files = config_files(path)
    raw: dict[str, Any] = {}
    origins = _Origins()
    origins.keys[()] = str(path)
    for file in files:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            issues.append(ConfigIssue(str(file), "(syntax)", str(exc),
                                      "fix the TOML syntax at that line"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(ConfigIssue(str(file), "(file)", f"cannot read: {exc}"))
            continue
        _merge(raw, data, str(file), file.parent.resolve(), origins)
    others = _env_layer(environ, _referenced_env_names(raw, origins), raw, origins, issues)
    _resolve_paths(raw, origins)
    referenced = _referenced_env_names(raw, origins)  # the environment may name a rules file
    issues.extend(ConfigIssue(f"env {var}", ".".join(var[len(ENV_PREFIX):].lower().split("__")),
                              "not a crmhub setting", _NOT_A_SETTING)
                  for var in others if var not in referenced)
    if issues:
        raise ConfigError(issues)
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_issues(exc, raw, origins.file_of, HubConfig)) from None
    loaded = LoadedConfig(config=config, path=path, files=files)
    for index, connector in enumerate(config.connectors):
        loaded.connector_dirs[connector.name] = origins.connector_dirs[index]
        loaded.connector_files[connector.name] = origins.connectors[index]
    return loaded


def key_path(loc: tuple[Any, ...], raw: Any) -> str:
    """``connectors[name=crm].settings.paths[0]`` from a pydantic location."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and item < len(node) \
                and isinstance(node[item], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{'name=' + name if name else item}]"]
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names valid at ``loc`` (for 'did you mean' hints)."""
    for item in loc:
        if model is None:
            return []
        if isinstance(item, int):
            continue
        info = model.model_fields.get(str(item))
        if info is None:
            return []
        model = _model_of(info.annotation)
    return list(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def validation_issues(exc: ValidationError, raw: Any, file_of: Any,
                      model: type[BaseModel] | None,
                      prefix: tuple[Any, ...] = ()) -> list[ConfigIssue]:
    """Turn a pydantic error into issues with file, key path and a hint."""
    issues = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"]
                    if not (isinstance(p, str) and p.startswith("function-")))
        full = (*prefix, *loc)
        hint: str | None = (error.get("ctx") or {}).get("hint")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            known = _fields_at(model, loc[:-1])
            hint = did_you_mean(str(loc[-1]), known) or (
                f"known keys here: {', '.join(known)}" if known else "remove it")
        elif error["type"] == "missing":
            message = "required key is missing"
            hint = f"add {loc[-1]} = ..."
        elif error["type"] == "literal_error" and not hint:
            hint = "use one of the values listed"
        issues.append(ConfigIssue(file_of(full), key_path(full, raw), message, hint))
    return issues
