"""Admins: the workspace's teammates, and the one the tokens belong to (/me)."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes
from intercom_connector.sandbox.store import Record, Store

route = Routes()


def _admin(db: Any, admin_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM admins WHERE id = ?", admin_id)
    if found is None:
        raise ApiError(404, "admin_not_found", "Admin not found")
    return found


@route("GET", "/me")
def me(db: Any, request: Request) -> Record:
    return records.render_me(_admin(db, records.OWNER_ID), [])


@route("GET", "/admins")
def list_admins(db: Any, request: Request) -> Record:
    avatar = request.boolean("display_avatar")
    admins = Store.many(db, "SELECT body FROM admins ORDER BY id")
    return {
        "type": "admin.list",
        "admins": [records.render_admin(admin, [], avatar=avatar) for admin in admins],
    }
