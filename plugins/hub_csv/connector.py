"""The ``csv`` and ``vcard`` connector kinds: contact files in, batches out.

``csv`` reads ``.csv``/``.txt``/``.tsv`` files as delimited text and ``.vcf``/``.vcard``
files (or any file that starts with ``BEGIN:VCARD``) as vCards, so one kind covers
"contact files"; ``vcard`` reads every file as vCards.

The cursor is one entry per file::

    {"files": {"<path>": {"sha256": "...", "size": 123, "mtime_ns": 1700000000000000000,
                          "rows": 1000, "done": false}}}

* unchanged ``size`` and ``mtime_ns`` of a ``done`` file: the file is not opened at all;
* a changed stat with the same ``sha256``: not re-read (one cursor-only batch records the
  new stat);
* the same ``sha256`` and not ``done``: a crash happened mid-file; reading resumes after
  the ``rows`` data records of the last committed batch;
* ``full=True`` re-reads everything.

A drop-folder file is moved to ``done/`` after its last batch, except in a dry run
(``context.dry_run``), which leaves the folder as it was; a connector that reads only a
drop folder reports ``can_reread`` false.

In ``snapshot`` mode each configured file is the whole truth: every batch of it carries
``scope`` (the file's path) and ``token`` (its sha256), and its last batch a
:class:`SnapshotEnd`, unless the file was cut short. Drop-folder files are always
append-only.
"""

from __future__ import annotations

import codecs
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, cast

from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorSettings,
    Rejected,
    RetriableError,
    SettingsProblem,
    SnapshotEnd,
)
from hub.records import Observation
from hub_csv.csv_file import CsvFile
from hub_csv.files import (
    VCARD_SUFFIXES,
    FileJob,
    configured_files,
    drop_folder_files,
    is_pattern,
    move_to_done,
    settled,
)
from hub_csv.reading import Fingerprint, fingerprint
from hub_csv.settings import CsvSettings, FileSettings
from hub_csv.source import SourceFile
from hub_csv.vcard import VCardFile

FileState = dict[str, Any]
_STATE_KEYS = {"sha256", "size", "mtime_ns", "rows", "done"}


def _load(cursor: dict[str, Any] | None) -> dict[str, FileState]:
    """The per-file states of a stored cursor; anything malformed counts as never read."""
    files = (cursor or {}).get("files")
    if not isinstance(files, dict):
        return {}
    return {
        key: dict(state)
        for key, state in files.items()
        if isinstance(state, dict) and state.keys() >= _STATE_KEYS
    }


def _cursor(files: dict[str, FileState]) -> dict[str, Any]:
    return {"files": {key: dict(state) for key, state in files.items()}}


class ContactFilesConnector(Connector, ABC):
    """What the contact-file kinds share; subclasses choose the reader per file."""

    Settings: ClassVar[type[ConnectorSettings]] = FileSettings

    @property
    def options(self) -> FileSettings:
        return cast(FileSettings, self.settings)

    @property
    def can_reread(self) -> bool:
        """A drop folder is consumed (files move to ``done/``): a connector that reads only a
        drop folder cannot read the same input again; configured ``paths`` can."""
        return bool(self.options.paths)

    @abstractmethod
    def reader(self, job: FileJob, fp: Fingerprint, mtime_ns: int) -> SourceFile:
        """The reader of one file for this kind (CSV or vCard)."""

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        options = self.options
        jobs, missing = configured_files(options.paths)
        if options.folder is not None:
            configured = {job.key for job in jobs}
            jobs += [j for j in drop_folder_files(options.folder) if j.key not in configured]
        wanted = {job.key for job in jobs}
        files = {key: state for key, state in _load(cursor).items() if key in wanted}
        failures = [f"{path}: no such file" for path in missing]
        for job in jobs:
            try:
                yield from self._sync_file(job, files, full)
            except OSError as exc:
                # Unreadable now (permissions, a file being replaced): the other files go
                # on, and the run ends as a retriable failure that names this one.
                self.log.error("%s: cannot read: %s", job.key, exc)
                failures.append(f"{job.key}: {exc.strerror or exc}")
        if failures:
            raise RetriableError("could not read " + "; ".join(failures))

    def _sync_file(self, job: FileJob, files: dict[str, FileState], full: bool) -> Iterator[Batch]:
        options = self.options
        try:
            stat = job.path.stat()
        except FileNotFoundError:
            if job.dropped:  # taken away between listing and reading: nothing to do
                return
            raise
        now = self.context.clock().timestamp()
        if job.dropped and not settled(stat.st_mtime_ns, now, options.settle_seconds):
            self.log.info(
                "%s: modified in the last %ss; left for the next run",
                job.key,
                options.settle_seconds,
            )
            return
        state = files.get(job.key)
        if (
            not full
            and state is not None
            and state["done"]
            and (state["size"], state["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
        ):
            self._finish(job, files)
            return
        fp = fingerprint(job.path)
        same = not full and state is not None and state["sha256"] == fp.sha256
        if same and state is not None and state["done"]:
            files[job.key] = {**state, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            yield Batch(cursor=_cursor(files), on_commit=partial(self._finish, job, files))
            return
        skip = int(state["rows"]) if same and state is not None else 0
        if skip:
            self.log.info("%s: resuming after %d committed rows", job.key, skip)
        progress: FileState = {
            "sha256": fp.sha256,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "rows": skip,
            "done": False,
        }
        reader = self.reader(job, fp, stat.st_mtime_ns)
        yield from self._batches(job, reader, progress, files)

    def _batches(
        self, job: FileJob, reader: SourceFile, progress: FileState, files: dict[str, FileState]
    ) -> Iterator[Batch]:
        """Cut the reader's items into batches; the last one is known by looking ahead."""
        size = self.options.batch_size
        resumed = int(progress["rows"]) > 0
        items = reader.items(int(progress["rows"]))
        try:
            chunk: list[Observation | Rejected] = []
            pending = next(items, None)
            empty = pending is None and not resumed
            while pending is not None:
                rows, result = pending
                chunk.append(result)
                progress["rows"] = max(int(progress["rows"]), rows)
                pending = next(items, None)
                if pending is not None and len(chunk) >= size:
                    files[job.key] = dict(progress)
                    yield self._batch(job, reader, chunk, files, last=False)
                    chunk = []
            progress["rows"] = max(int(progress["rows"]), reader.rows)
            progress["done"] = True
            files[job.key] = dict(progress)
            last = self._batch(job, reader, chunk, files, last=True)
            if empty and not reader.rejected:
                last.warnings.append(f"{job.key}: no rows after the header: nothing to "
                                     "import (was the export made of an empty list?)")
            last.on_commit = partial(self._finish, job, files)
            yield last
        finally:
            items.close()

    def _batch(
        self,
        job: FileJob,
        reader: SourceFile,
        chunk: list[Observation | Rejected],
        files: dict[str, FileState],
        last: bool,
    ) -> Batch:
        batch = Batch(
            observations=[r for r in chunk if isinstance(r, Observation)],
            rejected=[r for r in chunk if isinstance(r, Rejected)],
            cursor=_cursor(files),
        )
        if self.options.mode != "snapshot" or job.dropped or reader.rejected:
            return batch
        batch.scope, batch.token = job.key, reader.fp.sha256
        if last and reader.complete:
            batch.snapshot_end = SnapshotEnd(
                job.key, reader.fp.sha256, self.options.max_delete_ratio
            )
        elif last:
            self.log.warning(
                "%s: the file is cut short, so it is not taken as the full truth: "
                "no records are deleted this time",
                job.key,
            )
        return batch

    def _finish(self, job: FileJob, files: dict[str, FileState]) -> None:
        """Once a drop-folder file's last batch is committed (``Batch.on_commit``): move it
        to done/.

        A dry run changes nothing in the source either: the file stays where it is.
        """
        if not job.dropped or self.options.folder is None:
            return
        if self.context.dry_run:
            self.log.info("%s: dry run, left in the drop folder", job.key)
            return
        try:
            target = move_to_done(job.path, self.options.folder)
        except OSError as exc:
            self.log.error("%s: read, but could not be moved to done/: %s", job.key, exc)
            return
        files.pop(job.key, None)
        self.log.info("%s: done, moved to %s", job.key, target)

    @classmethod
    def settings_problems(cls, settings: ConnectorSettings) -> list[SettingsProblem]:
        assert isinstance(settings, FileSettings)
        return file_problems(settings)[0]

    def check(self) -> CheckResult:
        problems, found = file_problems(self.options)
        errors = [p.message + (f" ({p.hint})" if p.hint else "") for p in problems
                  if not p.warning]
        if errors:
            return CheckResult(ok=False, message="; ".join(errors))
        notes = "".join(f"; {p.message}" for p in problems)
        return CheckResult(ok=True, message=f"{found} file(s) to read{notes}")


def file_problems(options: FileSettings) -> tuple[list[SettingsProblem], int]:
    """What is wrong with the configured files and drop folder, and how many files there are
    to read. A pattern that matches nothing yet, and a drop folder that does not exist
    yet, are warnings: files may arrive later."""
    problems: list[SettingsProblem] = []
    found = 0
    for index, path in enumerate(options.paths):
        key = f"paths[{index}]"
        if is_pattern(path):
            matches = len(configured_files([path])[0])
            found += matches
            if not matches:
                problems.append(SettingsProblem(key, f"{path}: matches no file yet",
                                                warning=True))
        elif not path.exists():
            problems.append(SettingsProblem(key, f"{path}: no such file",
                                            "check the path (relative paths start at the "
                                            "directory of the file that names them)"))
        elif not path.is_file():
            problems.append(SettingsProblem(key, f"{path}: not a file",
                                            "a drop folder goes in `folder`"))
        elif not os.access(path, os.R_OK):
            problems.append(SettingsProblem(key, f"{path}: not readable",
                                            "let the crmhub user read it"))
        else:
            found += 1
    folder = options.folder
    if folder is not None:
        if not folder.exists():
            problems.append(SettingsProblem("folder", f"{folder}: the drop folder does not "
                                            "exist yet", warning=True))
        elif not folder.is_dir():
            problems.append(SettingsProblem("folder", f"{folder}: not a directory"))
        elif not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            problems.append(SettingsProblem("folder", f"{folder}: not writable",
                                            "files move to done/ once read: let the crmhub "
                                            "user write there"))
        else:
            found += len(drop_folder_files(folder))
    return problems, found


def _starts_like_vcard(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(512)
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            head = head[len(bom) :].decode(codec, "ignore").encode("ascii", "ignore")
    return head.lstrip(codecs.BOM_UTF8).lstrip().upper().startswith(b"BEGIN:VCARD")


class CsvConnector(ContactFilesConnector):
    """Contact exports: Google, Outlook, LinkedIn, any CSV by mapping, and vCard files."""

    kind: ClassVar[str] = "csv"
    Settings: ClassVar[type[ConnectorSettings]] = CsvSettings

    def reader(self, job: FileJob, fp: Fingerprint, mtime_ns: int) -> SourceFile:
        if job.path.suffix.lower() in VCARD_SUFFIXES or _starts_like_vcard(job.path):
            return VCardFile(
                job.path, job.key, self.options, fp, mtime_ns, self.log, dropped=job.dropped
            )
        settings = cast(CsvSettings, self.settings)
        return CsvFile(
            job.path, job.key, settings, fp, mtime_ns, self.log, dropped=job.dropped
        )


class VCardConnector(ContactFilesConnector):
    """vCard files (3.0, 4.0), whatever their extension."""

    kind: ClassVar[str] = "vcard"
    Settings: ClassVar[type[ConnectorSettings]] = FileSettings

    def reader(self, job: FileJob, fp: Fingerprint, mtime_ns: int) -> SourceFile:
        return VCardFile(
            job.path, job.key, self.options, fp, mtime_ns, self.log, dropped=job.dropped
        )
