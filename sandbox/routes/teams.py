"""Teams: the groups of admins that conversations and tickets are assigned to."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox.api import ApiError, Request, Routes
from intercom_connector.sandbox.store import Record, Store

route = Routes()


@route("GET", "/teams")
def list_teams(db: Any, request: Request) -> Record:
    return {"type": "team.list", "teams": Store.many(db, "SELECT body FROM teams ORDER BY id")}


@route("GET", "/teams/{team_id}")
def get_team(db: Any, request: Request, team_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM teams WHERE id = ?", team_id)
    if found is None:
        raise ApiError(404, "team_not_found", "Team not found")
    return found
