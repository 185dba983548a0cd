"""Ticket types, their states, and tickets."""

from __future__ import annotations

import json
import time
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    find_company,
    find_contact,
    new_id,
)
from intercom_connector.sandbox.store import Record, Store, dumps

route = Routes()


@route("GET", "/ticket_types")
def list_ticket_types(db: Any, request: Request) -> Record:
    types = Store.many(db, "SELECT body FROM ticket_types ORDER BY id")
    return {"type": "list", "data": [records.render_ticket_type(db, kind) for kind in types]}


@route("GET", "/ticket_states")
def list_ticket_states(db: Any, request: Request) -> Record:
    rows = db.execute(
        "SELECT body, ticket_type_ids FROM ticket_states ORDER BY CAST(id AS INTEGER)"
    ).fetchall()
    return {
        "type": "list",
        "data": [
            records.render_ticket_state(db, json.loads(body), json.loads(type_ids))
            for body, type_ids in rows
        ],
    }


def _first_state(db: Any, ticket_type: Record) -> Record:
    """A new ticket's state: its type's first in the submitted category."""
    states = records.ticket_states_of(db, ticket_type["id"])
    submitted = [state for state in states if state["category"] == "submitted"]
    if submitted:
        return submitted[0]
    default = records.new_ticket_state("1", "submitted", "Submitted", "Submitted")
    return {key: value for key, value in default.items() if key != "archived"}


def _ticket_contact(db: Any, contacts: Any) -> Record:
    if not isinstance(contacts, list) or len(contacts) != 1 or not isinstance(contacts[0], dict):
        raise ApiError(
            400, "parameter_invalid", "contacts must hold exactly one contact", "contacts"
        )
    (ref,) = contacts
    if set(ref) not in ({"id"}, {"external_id"}, {"email"}):
        raise ApiError(400, "parameter_invalid", "a contact is one of id, external_id or email")
    if "id" in ref:
        return find_contact(db, str(ref["id"]))
    column = "external_id" if "external_id" in ref else "email"
    value = str(ref[column]).strip()
    if column == "email":
        value = value.lower()
    found = Store.one(
        db, f"SELECT body FROM contacts WHERE {column} = ? ORDER BY seq LIMIT 1", value
    )
    if found is not None:
        return found
    if column == "external_id":
        raise ApiError(404, "not_found", "User Not Found")
    contact = records.new_contact(
        new_id("contact"), {"email": value, "role": "user"}, int(time.time())
    )
    records.save_contact(db, contact)  # an email with no contact creates one, as Intercom does
    return contact


@route("POST", "/tickets")
def create_ticket(db: Any, request: Request) -> Record:
    body = request.json_object()
    type_id = body.get("ticket_type_id")
    if not isinstance(type_id, str):
        raise ApiError(
            400, "parameter_invalid", "ticket_type_id must be a string", "ticket_type_id"
        )
    ticket_type = Store.one(db, "SELECT body FROM ticket_types WHERE id = ?", type_id)
    if ticket_type is None:
        raise ApiError(404, "ticket_type_not_found", "Ticket type not found")
    contact = _ticket_contact(db, body.get("contacts"))
    company_id = body.get("company_id")
    if company_id is not None:
        find_company(db, str(company_id))
    attributes = body.get("ticket_attributes") or {}
    if not isinstance(attributes, dict):
        raise ApiError(400, "parameter_invalid", "ticket_attributes must be an object")
    records.check_ticket_attributes(ticket_type, attributes, ApiError)
    now = int(body.get("created_at") or time.time())
    seq = (Store.scalar(db, "SELECT MAX(seq) FROM tickets") or 0) + 1
    state = _first_state(db, ticket_type)
    shown_type = records.render_ticket_type(db, ticket_type)
    ticket = records.new_ticket(
        str(1000 + seq), str(seq), shown_type, contact, attributes, now, state
    )
    db.execute(
        "INSERT INTO tickets (seq, id, body) VALUES (?, ?, ?)", (seq, ticket["id"], dumps(ticket))
    )
    return ticket


@route("GET", "/tickets/{ticket_id}")
def get_ticket(db: Any, request: Request, ticket_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM tickets WHERE id = ?", ticket_id)
    if found is None:
        raise ApiError(404, "ticket_not_found", "Ticket not found")
    return found
