"""Subscription types (the kinds of message contacts opt in to or out of) and each
contact's explicit choices among them."""

from __future__ import annotations

from typing import Any

from intercom_connector.sandbox.api import Request, Routes, find_contact
from intercom_connector.sandbox.store import Record, Store

route = Routes()


def new_subscription_type(type_id: str, name: str, description: str, consent: str) -> Record:
    translation = {"name": name, "description": description, "locale": "en"}
    return {
        "type": "subscription",
        "id": type_id,
        "state": "live",
        "default_translation": translation,
        "translations": [translation],
        "consent_type": consent,
        "content_types": ["email"],
    }


@route("GET", "/subscription_types")
def list_subscription_types(db: Any, request: Request) -> Record:
    types = Store.many(db, "SELECT body FROM subscription_types ORDER BY id")
    return {"type": "list", "data": types}


@route("GET", "/contacts/{contact_id}/subscriptions")
def subscriptions_of_contact(db: Any, request: Request, contact_id: str) -> Record:
    find_contact(db, contact_id)
    types = Store.many(
        db,
        "SELECT s.body FROM subscription_types s JOIN contact_subscriptions c "
        "ON c.subscription_type_id = s.id WHERE c.contact_id = ? ORDER BY s.id",
        contact_id,
    )
    return {"type": "list", "data": types}
