"""Forked child processes that carry no database connection and never outlive their parent.

crmhub forks twice: the daemon forks a worker per connector run, and a run forks a producer
that reads and normalises while its parent writes. Two rules keep a crash from leaving
anything behind:

* **No connection crosses a fork.** The parent closes its pooled connections just before
  it forks (:func:`forget_connections`), so the child inherits no socket to PostgreSQL and
  no SQLite file handle (SQLite documents a connection carried across ``fork()`` as unsafe;
  an orphan holding the dead parent's PostgreSQL socket kept its open transaction, and its
  locks, alive). Each process then opens its own connections.
* **A child dies with its parent.** On Linux the child asks the kernel for a signal when
  its parent dies (``PR_SET_PDEATHSIG``); elsewhere, and for the moment before that
  request, it compares its parent's pid with the one it was forked from
  (:func:`parent_alive`). A producer also sees end-of-file on its pipe, because it closes
  the parent's end that fork gave it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

from sqlalchemy import Engine

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def forget_connections(engine: Engine) -> None:
    """Close the engine's idle pooled connections before a fork (the pool refills lazily).

    Must be called with no connection checked out: a checked-out connection would be
    carried into the child regardless.
    """
    engine.dispose()


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL) -> None:
    """In a freshly forked child: get ``signum`` when the parent dies, or exit now if it
    has already died (the window between ``fork()`` and the request)."""
    if sys.platform.startswith("linux"):
        _set_parent_death_signal(signum)
    if not parent_alive(parent_pid):
        os._exit(1)


def parent_alive(parent_pid: int) -> bool:
    """Whether this process is still the child of ``parent_pid`` (an orphan is adopted by
    init or a subreaper, so its parent pid changes)."""
    return os.getppid() == parent_pid


def _set_parent_death_signal(signum: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc is there
        failed = libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0
    except (OSError, AttributeError) as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable (%s): the parent-pid check "
                    "alone guards this child", exc)
        return
    if failed:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d; the parent-pid check alone "
                    "guards this child", ctypes.get_errno())
