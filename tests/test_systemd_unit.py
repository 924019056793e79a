"""The systemd unit as installed: the files in systemd/ agree with the documented install.

The documented install (README.md, "Operations") is a virtualenv at /opt/crmhub and the
config at /etc/crmhub/crmhub.toml, started from the shipped unit. ``systemd-analyze verify``
checks the unit in a fake root holding that layout (it fails when ExecStart's binary does not
exist), ``systemd-analyze security --offline=true`` caps its exposure, and the sysusers,
tmpfiles and production config files are checked against the unit's user, directories and
writable paths. Without systemd-analyze the tests that need it skip, and fail under
``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from hub.cli.main import main
from hub.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "crmhub.service"
SYSUSERS = SYSTEMD / "crmhub.sysusers"
TMPFILES = SYSTEMD / "crmhub.tmpfiles"
PRODUCTION_CONFIG = SYSTEMD / "crmhub.toml"

VENV = PurePosixPath("/opt/crmhub")
CONFIG = PurePosixPath("/etc/crmhub/crmhub.toml")
EXEC_START = f"{VENV}/bin/crmhub run --config {CONFIG}"
DATABASE_URL = "sqlite:////var/lib/crmhub/crmhub.db"
MAX_EXPOSURE = 1.5
HOST_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))


def _missing(message: str) -> None:
    """Skip on a developer machine, fail under CI: a green CI has checked the unit."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        _missing("systemd-analyze not found: install systemd to check systemd/crmhub.service")
    assert path is not None
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, errors="replace",
                          timeout=120, check=False)


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each key with its values in order (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"{path.name}:{number}: continuation lines unsupported"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: {raw!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key, [])
    assert len(values) == 1, f"{key}= must be set exactly once in crmhub.service: {values}"
    return values[0]


def _table(path: Path) -> list[list[str]]:
    """The non-comment lines of a sysusers.d or tmpfiles.d file, split into fields."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append(re.findall(r'"[^"]*"|\S+', line))
    return rows


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT)["Service"]


# -- systemd-analyze -----------------------------------------------------------------------


def _fake_root(tmp_path: Path, service: dict[str, list[str]], *, venv: bool = True) -> Path:
    """A root with the host's unit files, the shipped unit in etc/systemd/system and, when
    ``venv``, the documented virtualenv's entry point; other Exec* binaries (/bin/kill) must
    exist on the host and are stubbed in the root at the same path."""
    root = tmp_path / "root"
    host_units = next((d for d in HOST_UNIT_DIRS if d.is_dir()), None)
    if host_units is None:
        _missing(f"no systemd unit directory on this host ({', '.join(map(str, HOST_UNIT_DIRS))})")
    assert host_units is not None
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copyfile(UNIT, root / "etc/systemd/system/crmhub.service")
    binaries = {value.split()[0].lstrip("-@:+!") for key, values in service.items()
                if key.startswith("Exec") for value in values}
    for binary in sorted(binaries):
        assert binary.startswith("/"), f"{binary}: use absolute paths in Exec* lines"
        if PurePosixPath(binary).is_relative_to(VENV):
            if not venv:
                continue
        else:
            assert os.access(binary, os.X_OK), f"{binary} (in crmhub.service) is not on this host"
        stub = root / binary.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def test_shipped_unit_starts_the_documented_install(service: dict[str, list[str]]) -> None:
    assert _one(service, "ExecStart") == EXEC_START


def test_verify_passes_with_the_documented_layout(
        systemd_analyze: str, service: dict[str, list[str]], tmp_path: Path) -> None:
    root = _fake_root(tmp_path, service)
    result = _run(systemd_analyze, "verify", f"--root={root}", "--man=no", "crmhub.service")
    output = result.stdout + result.stderr
    # verify reports a bad directive as a warning and still exits 0: no line may name us.
    ours = [line for line in output.splitlines() if "crmhub" in line]
    assert result.returncode == 0 and not ours, output


def test_verify_fails_without_the_venv(
        systemd_analyze: str, service: dict[str, list[str]], tmp_path: Path) -> None:
    """The check above is real: verify looks for ExecStart's binary inside the root."""
    root = _fake_root(tmp_path, service, venv=False)
    result = _run(systemd_analyze, "verify", f"--root={root}", "--man=no", "crmhub.service")
    assert result.returncode != 0
    assert f"{VENV}/bin/crmhub" in result.stdout + result.stderr


def test_exposure_is_at_most_the_cap(systemd_analyze: str) -> None:
    result = _run(systemd_analyze, "security", "--offline=true", str(UNIT))
    output = result.stdout + result.stderr
    found = re.search(r"Overall exposure level for crmhub\.service:\s*(\d+(?:\.\d+)?)", output)
    assert result.returncode == 0 and found, output
    assert float(found.group(1)) <= MAX_EXPOSURE, output


# -- the files agree -------------------------------------------------------------------------


def test_sysusers_creates_the_units_user_and_group(service: dict[str, list[str]]) -> None:
    user, group = _one(service, "User"), _one(service, "Group")
    state = f"/var/lib/{_one(service, 'StateDirectory')}"
    rows = _table(SYSUSERS)
    # "u NAME ID GECOS HOME": the user and a group of the same name, home in the state dir.
    assert [row[0] for row in rows] == ["u"], rows
    assert rows[0][1] == user == group
    assert rows[0][4] == state


def test_tmpfiles_creates_the_units_directories(service: dict[str, list[str]]) -> None:
    user, group = _one(service, "User"), _one(service, "Group")
    state = f"/var/lib/{_one(service, 'StateDirectory')}"
    configuration = f"/etc/{_one(service, 'ConfigurationDirectory')}"
    dirs = {row[1]: row for row in _table(TMPFILES) if row[0] == "d"}
    assert dirs[state][2:5] == [_one(service, "StateDirectoryMode"), user, group]
    # root owns the config, the service reads it through its group and writes none of it.
    assert dirs[configuration][2:5] == ["0750", "root", group]
    assert dirs[f"{configuration}/conf.d"][2:5] == ["0750", "root", group]
    assert str(CONFIG.parent) == configuration
    assert _one(service, "WorkingDirectory") == state


def test_sysusers_and_tmpfiles_create_what_the_unit_needs(
        service: dict[str, list[str]], tmp_path: Path) -> None:
    """The README's systemd-sysusers and systemd-tmpfiles --create steps, in a fake root."""
    sysusers, tmpfiles = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
    if sysusers is None or tmpfiles is None:
        _missing("systemd-sysusers or systemd-tmpfiles not found")
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles needs root to chown in a fake root")
    assert sysusers is not None and tmpfiles is not None
    (tmp_path / "etc").mkdir()
    for command in ([sysusers, f"--root={tmp_path}", str(SYSUSERS)],
                    [tmpfiles, f"--root={tmp_path}", "--create", str(TMPFILES)]):
        result = _run(*command)
        assert result.returncode == 0, result.stdout + result.stderr
    user, group = _one(service, "User"), _one(service, "Group")
    uids = {f.split(":")[0]: int(f.split(":")[2])
            for f in (tmp_path / "etc/passwd").read_text().splitlines()}
    gids = {f.split(":")[0]: int(f.split(":")[2])
            for f in (tmp_path / "etc/group").read_text().splitlines()}
    state = tmp_path / "var/lib" / _one(service, "StateDirectory")
    configuration = tmp_path / "etc" / _one(service, "ConfigurationDirectory")
    assert (state.stat().st_uid, state.stat().st_gid) == (uids[user], gids[group])
    assert oct(state.stat().st_mode & 0o7777) == oct(int(_one(service, "StateDirectoryMode"), 8))
    for directory in (configuration, configuration / "conf.d"):
        assert (directory.stat().st_uid, directory.stat().st_gid) == (0, gids[group])


def url_path(url: object) -> PurePosixPath:
    """The file of a SQLite URL as resolved by the config loader (always absolute)."""
    assert isinstance(url, str)
    parsed = make_url(url)
    assert parsed.get_backend_name() == "sqlite" and parsed.database
    path = PurePosixPath(parsed.database)
    assert path.is_absolute(), url
    return path


def test_production_config_is_valid_and_its_database_is_writable(
        service: dict[str, list[str]]) -> None:
    result = CliRunner().invoke(main, ["config", "check", "--config", str(PRODUCTION_CONFIG)])
    assert result.exit_code == 0, result.output
    url = load_config(PRODUCTION_CONFIG).config.hub.database_url
    assert url == DATABASE_URL  # absolute: the same wherever the config file is
    database = url_path(url)
    state = PurePosixPath(f"/var/lib/{_one(service, 'StateDirectory')}")
    writable = [PurePosixPath(p) for v in service["ReadWritePaths"] for p in v.split()]
    assert database.parent == state
    assert any(database.is_relative_to(p) for p in writable), writable
    assert _one(service, "ProtectSystem") == "strict"  # so nothing else is writable


def test_quick_start_database_is_relative_to_the_example_config() -> None:
    """config/crmhub.toml is for the quick start only: its database lands in config/var/."""
    example = ROOT / "config" / "crmhub.toml"
    url = load_config(example).config.hub.database_url
    assert url_path(url) == PurePosixPath(ROOT / "config" / "var" / "crmhub.db")


def test_readme_installs_what_the_unit_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    for text in (f"python3 -m venv {VENV}", f"{VENV}/bin/pip install",
                 f"systemd/crmhub.toml {CONFIG}", DATABASE_URL,
                 "install -m 644 systemd/crmhub.service /etc/systemd/system/",
                 "systemd/crmhub.sysusers /usr/lib/sysusers.d/crmhub.conf",
                 "systemd/crmhub.tmpfiles /usr/lib/tmpfiles.d/crmhub.conf",
                 "systemctl enable --now crmhub"):
        assert text in readme, text
