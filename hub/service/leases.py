"""Run leases in ``sync_state``: one connector never runs twice at once.

A lease is taken with one conditional UPDATE (free, expired, or already ours), which is
atomic on SQLite (the write lock) and on PostgreSQL (the row lock), so two daemons sharing
one PostgreSQL, or a daemon and a manual ``crmhub sync``, never run the same connector
together. The holder renews it after every batch. A lease whose holder process is gone on
this host is taken over at once instead of waiting for it to expire; so a lease always
names the process that really runs the connector (a daemon hands it to its worker).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.store.model import SyncState

HOST = socket.gethostname()


def new_owner(pid: int | None = None, run: str | None = None) -> str:
    """``host:pid:run`` — who holds a lease, readable in ``crmhub status``."""
    return f"{HOST}:{os.getpid() if pid is None else pid}:{run or uuid.uuid4().hex[:8]}"


def owner_for_pid(owner: str, pid: int) -> str:
    """The same run's lease owner, naming process ``pid`` instead."""
    host, _, rest = owner.partition(":")
    return f"{host}:{pid}:{rest.partition(':')[2]}"


def _dead_local_holder(owner: str | None) -> bool:
    if owner is None:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Held:
    """Why a lease was refused."""

    owner: str
    until: datetime

    def __str__(self) -> str:
        return f"already running: lease held by {self.owner} until {self.until.isoformat()}"


def acquire(sessions: sessionmaker[Session], connector: str, kind: str, owner: str,
            ttl: float, now: datetime) -> Held | None:
    """Take the lease for ``ttl`` seconds; ``None`` on success, else who holds it."""
    until = now + timedelta(seconds=ttl)
    for _ in range(2):  # a concurrent first insert of the row: retry once
        try:
            with sessions.begin() as session:
                if session.get(SyncState, connector) is None:
                    session.add(SyncState(connector=connector, kind=kind,
                                          consecutive_failures=0, records=0))
                    session.flush()
                free = (SyncState.lease_owner.is_(None) | (SyncState.lease_until < now)
                        | (SyncState.lease_owner == owner))
                taken = session.execute(update(SyncState).where(
                    SyncState.connector == connector, free)
                    .values(lease_owner=owner, lease_until=until)).rowcount  # type: ignore[attr-defined]
                if taken:
                    return None
                holder, held_until = session.execute(select(
                    SyncState.lease_owner, SyncState.lease_until)
                    .where(SyncState.connector == connector)).one()
                if _dead_local_holder(holder):
                    taken = session.execute(update(SyncState).where(
                        SyncState.connector == connector, SyncState.lease_owner == holder)
                        .values(lease_owner=owner, lease_until=until)).rowcount  # type: ignore[attr-defined]
                    if taken:
                        return None
                return Held(holder or "?", held_until or now)
        except IntegrityError:
            continue
    return Held("?", now)


def renew(sessions: sessionmaker[Session], connector: str, owner: str, ttl: float,
          now: datetime) -> bool:
    with sessions.begin() as session:
        return bool(session.execute(update(SyncState).where(
            SyncState.connector == connector, SyncState.lease_owner == owner)
            .values(lease_until=now + timedelta(seconds=ttl))).rowcount)  # type: ignore[attr-defined]


def transfer(sessions: sessionmaker[Session], connector: str, owner: str,
             to: str) -> bool:
    """Hand a held lease to another owner (the daemon to the worker that runs the
    connector, so that the lease names the process a crash check must look at)."""
    with sessions.begin() as session:
        return bool(session.execute(update(SyncState).where(
            SyncState.connector == connector, SyncState.lease_owner == owner)
            .values(lease_owner=to)).rowcount)  # type: ignore[attr-defined]


def release(sessions: sessionmaker[Session], connector: str, owner: str) -> None:
    with sessions.begin() as session:
        session.execute(update(SyncState).where(
            SyncState.connector == connector, SyncState.lease_owner == owner)
            .values(lease_owner=None, lease_until=None))
