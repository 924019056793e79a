"""Which files a sync reads: configured paths and glob patterns, and the drop folder.

A drop-folder file is read once it has *settled* (not modified for ``settle_seconds``,
so a file still being copied in is left for the next run) and is moved to
``<folder>/done/`` after its last batch was committed.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

CONTACT_SUFFIXES = frozenset({".csv", ".txt", ".tsv", ".vcf", ".vcard"})
VCARD_SUFFIXES = frozenset({".vcf", ".vcard"})
DONE = "done"


@dataclass(frozen=True)
class FileJob:
    """One file to read; ``key`` names it in the cursor, in locations and as snapshot scope."""

    path: Path
    key: str
    dropped: bool = False  # from the drop folder: append-only, moved to done/ afterwards


def is_pattern(path: Path) -> bool:
    return glob.has_magic(str(path))


def configured_files(paths: list[Path]) -> tuple[list[FileJob], list[str]]:
    """The files ``paths`` name, in order (a pattern's matches sorted), and the missing ones."""
    jobs: list[FileJob] = []
    missing: list[str] = []
    seen: set[str] = set()
    for path in paths:
        if is_pattern(path):
            matches = [Path(m) for m in sorted(glob.glob(str(path))) if Path(m).is_file()]
        elif path.is_file():
            matches = [path]
        else:
            missing.append(str(path))
            continue
        for match in matches:
            if str(match) not in seen:
                seen.add(str(match))
                jobs.append(FileJob(match, str(match)))
    return jobs, missing


def drop_folder_files(folder: Path) -> list[FileJob]:
    """The contact files waiting in ``folder`` (not its sub-folders), by name."""
    if not folder.is_dir():
        return []
    return [
        FileJob(entry, str(entry), dropped=True)
        for entry in sorted(folder.iterdir())
        if entry.suffix.lower() in CONTACT_SUFFIXES
        and not entry.name.startswith((".", "~$"))  # hidden files, Office lock files
        and entry.is_file()
    ]


def settled(mtime_ns: int, now: float, settle_seconds: float) -> bool:
    """Whether a file last modified at ``mtime_ns`` has been left alone long enough."""
    return now - mtime_ns / 1e9 >= settle_seconds


def move_to_done(path: Path, folder: Path) -> Path:
    """Move a processed drop-folder file to ``folder/done/`` without overwriting any."""
    done = folder / DONE
    done.mkdir(exist_ok=True)
    target = done / path.name
    n = 1
    while target.exists():
        n += 1
        target = done / f"{path.stem}.{n}{path.suffix}"
    os.replace(path, target)
    return target
