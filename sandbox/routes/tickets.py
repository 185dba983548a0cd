"""Ticket types, their states, and tickets: create, read, update, search. A ticket's
changes make the webhook notifications Intercom makes (ticket.created, ticket.state.updated,
ticket.attribute.updated)."""

from __future__ import annotations

import json
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    find_company,
    find_contact,
    new_id,
    search_answer,
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


def _ticket_contact(db: Any, request: Request, contacts: Any) -> Record:
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
        new_id("contact"), {"email": value, "role": "user"}, request.now()
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
    contact = _ticket_contact(db, request, body.get("contacts"))
    company_id = body.get("company_id")
    if company_id is not None:
        find_company(db, str(company_id))
    attributes = body.get("ticket_attributes") or {}
    if not isinstance(attributes, dict):
        raise ApiError(400, "parameter_invalid", "ticket_attributes must be an object")
    records.check_ticket_attributes(ticket_type, attributes, ApiError)
    now = int(body.get("created_at") or request.now())
    seq = (Store.scalar(db, "SELECT MAX(seq) FROM tickets") or 0) + 1
    state = _first_state(db, ticket_type)
    shown_type = records.render_ticket_type(db, ticket_type)
    ticket = records.new_ticket(
        str(1000 + seq), str(seq), shown_type, contact, attributes, now, state
    )
    db.execute(
        "INSERT INTO tickets (seq, id, body) VALUES (?, ?, ?)", (seq, ticket["id"], dumps(ticket))
    )
    request.notify("ticket.created", ticket)
    return ticket


@route("GET", "/tickets/{ticket_id}")
def get_ticket(db: Any, request: Request, ticket_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM tickets WHERE id = ?", ticket_id)
    if found is None:
        raise ApiError(404, "ticket_not_found", "Ticket not found")
    return found


@route("PUT", "/tickets/{ticket_id}")
def update_ticket(db: Any, request: Request, ticket_id: str) -> Record:
    ticket: Record = get_ticket(db, request, ticket_id)
    body = request.json_object()
    attributes = body.get("ticket_attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise ApiError(400, "parameter_invalid", "ticket_attributes must be an object")
        merged = {**ticket["ticket_attributes"], **attributes}
        records.check_ticket_attributes(ticket["ticket_type"], merged, ApiError)
        ticket["ticket_attributes"] = merged
    topic = "ticket.attribute.updated"
    state_id = body.get("ticket_state_id")
    if state_id is not None:
        states = records.ticket_states_of(db, ticket["ticket_type"]["id"])
        chosen = [state for state in states if state["id"] == str(state_id)]
        if not chosen:
            message = "ticket_state_id is not a state of the ticket's type"
            raise ApiError(400, "parameter_invalid", message, "ticket_state_id")
        if chosen[0]["id"] != ticket["ticket_state"]["id"]:
            ticket["previous_ticket_state_id"] = ticket["ticket_state"]["id"]
            ticket["ticket_state"], topic = chosen[0], "ticket.state.updated"
    if "open" in body:
        if not isinstance(body["open"], bool):
            raise ApiError(400, "parameter_invalid", "open must be true or false", "open")
        ticket["open"] = body["open"]
    ticket["updated_at"] = request.now()
    db.execute("UPDATE tickets SET body = ? WHERE id = ?", (dumps(ticket), ticket_id))
    request.notify(topic, ticket)
    return ticket


#: the fields a ticket search takes, by type
SEARCH_FIELDS = {
    "id": "string",
    "created_at": "date",
    "updated_at": "date",
    "ticket_type_id": "string",
    "category": "string",
    "state": "string",
    "open": "boolean",
    "contact_ids": "membership",
}


def _search_view(ticket: Record) -> Record:
    return {
        **ticket,
        "ticket_type_id": ticket["ticket_type"]["id"],
        "state": ticket["ticket_state"]["category"],
        "contact_ids": [c["id"] for c in ticket["contacts"]["contacts"]],
    }


@route("POST", "/tickets/search")
def search_tickets(db: Any, request: Request) -> Record:
    views = [_search_view(t) for t in Store.many(db, "SELECT body FROM tickets ORDER BY seq")]
    window, answer = search_answer(request, views, "tickets", "ticket.list", SEARCH_FIELDS)
    hidden = ("ticket_type_id", "state", "contact_ids")
    answer["tickets"] = [{k: v for k, v in view.items() if k not in hidden} for view in window]
    return answer
