"""Who sees which contacts: a rep their own, a manager everyone under them, an admin all.

One filter (:func:`contact_filter`) is applied by every read path that takes ``--as``
(export, contacts list/show/explain, assign list/explain, review list/show: a candidate
only when both its contacts are visible). A manager's reach follows the
management chain recursively (``manager`` of owners, ``manager`` of teams) and includes
the leads waiting in the queues of the teams they manage: the queues that declare one of
those teams (``[[queues]] teams``), and a queue named after one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, or_, true

from hub.config import did_you_mean
from hub.routing.rules import OwnerInfo, RuleSet
from hub.store.model import Contact


class VisibilityError(LookupError):
    """``--as`` names nobody (or someone inactive)."""


def reach(ruleset: RuleSet, as_owner: str) -> tuple[set[str], set[str]]:
    """The owners whose leads ``as_owner`` sees, and the queues: themselves; a manager
    everyone under them and the queues of the teams they (or managers under them) lead."""
    owners = {as_owner}
    queues: set[str] = set()
    info = ruleset.owners.get(as_owner)
    if info is not None and info.spec.role == "manager":
        owners |= ruleset.reports_of(as_owner)
        queues = ruleset.queues_of(owners)
    return owners, queues


def _viewer(ruleset: RuleSet, as_owner: str) -> OwnerInfo:
    """The owner ``--as`` names, or a :class:`VisibilityError` saying why not."""
    info = ruleset.owners.get(as_owner)
    if info is None:
        close = did_you_mean(as_owner, ruleset.owners)
        hint = f"; {close}" if close else ""
        raise VisibilityError(f"no owner {as_owner!r} in the rules file{hint}")
    if not info.spec.active:
        raise VisibilityError(f"owner {as_owner!r} is inactive and sees nothing")
    return info


def contact_filter(ruleset: RuleSet | None, as_owner: str | None) -> Any:
    """A WHERE clause on ``contacts`` for what ``as_owner`` may see (``None``: everything)."""
    if as_owner is None:
        return true()
    if ruleset is None:
        return Contact.owner == as_owner  # no directory: one's own contacts only
    if _viewer(ruleset, as_owner).spec.role == "admin":
        return true()
    owners, queues = reach(ruleset, as_owner)
    clause: Any = Contact.owner.in_(sorted(owners))
    if queues:
        clause = or_(clause, and_(Contact.owner.is_(None), Contact.team.in_(sorted(queues))))
    return clause


def visible_leads(ruleset: RuleSet | None,
                  as_owner: str) -> Callable[[str | None, str | None], bool] | None:
    """Whether ``as_owner`` sees a lead by its owner and queue (``None``: everything), as
    :func:`contact_filter` decides for stored contacts; a replay asks it of leads the
    draft places."""
    if ruleset is None:
        return lambda owner, queue: owner == as_owner
    if _viewer(ruleset, as_owner).spec.role == "admin":
        return None
    owners, queues = reach(ruleset, as_owner)
    return lambda owner, queue: owner in owners if owner is not None else queue in queues
