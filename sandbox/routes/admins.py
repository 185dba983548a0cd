"""Admins: the workspace's teammates, the one the tokens belong to (/me), away mode."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes
from intercom_connector.sandbox.store import Record, Store, dumps

route = Routes()


def _admin(db: Any, admin_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM admins WHERE id = ?", admin_id)
    if found is None:
        raise ApiError(404, "admin_not_found", "Admin not found")
    return found


@route("GET", "/me")
def me(db: Any, request: Request) -> Record:
    owner = _admin(db, records.OWNER_ID)
    return records.render_me(owner, records.team_ids(db, owner["id"]))


@route("GET", "/admins")
def list_admins(db: Any, request: Request) -> Record:
    avatar = request.boolean("display_avatar")
    admins = Store.many(db, "SELECT body FROM admins ORDER BY id")
    return {
        "type": "admin.list",
        "admins": [
            records.render_admin(admin, records.team_ids(db, admin["id"]), avatar=avatar)
            for admin in admins
        ],
    }


@route("GET", "/admins/{admin_id}")
def get_admin(db: Any, request: Request, admin_id: str) -> Record:
    admin = _admin(db, admin_id)
    return records.render_admin(admin, records.team_ids(db, admin_id))


@route("PUT", "/admins/{admin_id}/away")
def set_away(db: Any, request: Request, admin_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM admins WHERE id = ?", admin_id)
    if found is None:
        raise ApiError(404, "admin_not_found", "Admin for admin_id not found")
    body = request.json_object()
    for key in ("away_mode_enabled", "away_mode_reassign"):
        if key not in body:
            raise ApiError(400, "parameter_not_found", f"{key} is required", key)
        if not isinstance(body[key], bool):
            raise ApiError(400, "parameter_invalid", f"{key} must be true or false", key)
        found[key] = body[key]
    reason = body.get("away_status_reason_id")
    if reason is not None and (isinstance(reason, bool) or not isinstance(reason, int)):
        message = "away_status_reason_id must be an integer"
        raise ApiError(400, "parameter_invalid", message, "away_status_reason_id")
    found["away_status_reason_id"] = reason if found["away_mode_enabled"] else None
    db.execute("UPDATE admins SET body = ? WHERE id = ?", (dumps(found), admin_id))
    return records.render_admin(found, records.team_ids(db, admin_id))
