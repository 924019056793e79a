"""Owners and teams from the rules file, mirrored in the ``owners``/``teams`` tables.

The file is the truth; the tables let SQL (exports, visibility, history) see it. Rows are
written only when an owner's settings changed (a hash per row), so the usual call is one
SELECT. An owner or team gone from the file is kept and marked inactive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.routing.issues import digest as _digest
from hub.routing.model import Owner, Team
from hub.routing.rules import RuleSet


def _upsert(session: Session, model: type[Owner] | type[Team], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    build = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = build(model).values(rows)
    columns = {c: statement.excluded[c] for c in rows[0] if c != "id"}
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=columns))


def sync_directory(session: Session, ruleset: RuleSet, now: datetime) -> int:
    """Bring the tables in line with the rules file; returns how many rows changed."""
    stored_owners = {o: h for o, h in session.execute(select(Owner.id, Owner.config_hash))}
    owners = []
    for info in ruleset.owners.values():
        spec = info.spec
        if stored_owners.get(spec.id) == info.digest:
            continue
        owners.append({
            "id": spec.id, "name": spec.name or spec.id, "role": spec.role,
            "emails": list(spec.emails), "extensions": list(spec.extensions), "team": spec.team,
            "manager": spec.manager, "active": spec.active, "capacity": spec.capacity,
            "daily_cap": spec.daily_cap, "monthly_cap": spec.monthly_cap,
            "weight": spec.weight, "timezone": info.calendar.tz.key,
            "working_hours": spec.working_hours or dict(ruleset.settings.working_hours),
            "out_of_office": [a.model_dump(mode="json", by_alias=True)
                              for a in spec.out_of_office],
            "config_hash": info.digest, "updated_at": now})
    gone = [o for o, digest in stored_owners.items()
            if o not in ruleset.owners and digest != "removed"]
    _upsert(session, Owner, owners)
    for owner in session.scalars(select(Owner).where(Owner.id.in_(gone))) if gone else ():
        owner.active = False
        owner.config_hash = "removed"
        owner.updated_at = now
    stored_teams = {t: h for t, h in session.execute(select(Team.id, Team.config_hash))}
    teams = []
    for team in ruleset.teams.values():
        digest = _digest(team.model_dump(mode="json"))
        if stored_teams.get(team.id) != digest:
            teams.append({"id": team.id, "name": team.name or team.id, "manager": team.manager,
                          "active": team.active, "config_hash": digest, "updated_at": now})
    _upsert(session, Team, teams)
    gone_teams = [t for t, d in stored_teams.items() if t not in ruleset.teams and d != "removed"]
    for team_row in session.scalars(select(Team).where(Team.id.in_(gone_teams))) \
            if gone_teams else ():
        team_row.active = False
        team_row.config_hash = "removed"
        team_row.updated_at = now
    return len(owners) + len(gone) + len(teams) + len(gone_teams)
