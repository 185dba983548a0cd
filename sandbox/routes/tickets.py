"""Ticket types, their states, and tickets: created (or converted from a conversation),
updated (each change of state or assignee a part), replied to, searched, deleted.

Every time is the sandbox clock's (``request.now()``); a search finds only what the
workspace's search index shows yet. A ticket's changes make the webhook notifications
Intercom makes: ticket.created, ticket.state.updated, ticket.attribute.updated,
ticket.admin.assigned, ticket.team.assigned, ticket.note.created, ticket.contact.replied."""

from __future__ import annotations

import json
from typing import Any

from intercom_connector.sandbox import parts, records
from intercom_connector.sandbox.api import (
    ApiError,
    Request,
    Routes,
    find_company,
    find_contact,
    new_id,
    search_answer,
)
from intercom_connector.sandbox.search import TICKETS
from intercom_connector.sandbox.store import Record, Store, dumps

SEARCH_PAGE_MAX = 150

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
    contact = _ticket_contact(db, request, body.get("contacts"))
    company_id = body.get("company_id")
    if company_id is not None:
        find_company(db, str(company_id))
    attributes = body.get("ticket_attributes") or {}
    now = int(body.get("created_at") or request.now())
    ticket = open_ticket(db, body.get("ticket_type_id"), contact, attributes, now)
    request.notify("ticket.created", ticket)
    return ticket


def open_ticket(
    db: Any,
    type_id: Any,
    contact: Record,
    attributes: Any,
    now: int,
    *,
    state_id: Any = None,
    customer_only: bool = False,
) -> Record:
    """A new ticket of a type, in the type's first submitted state (or ``state_id``)."""
    if not isinstance(type_id, str):
        raise ApiError(
            400, "parameter_invalid", "ticket_type_id must be a string", "ticket_type_id"
        )
    ticket_type = Store.one(db, "SELECT body FROM ticket_types WHERE id = ?", type_id)
    if ticket_type is None:
        raise ApiError(404, "ticket_type_not_found", "Ticket type not found")
    if customer_only and ticket_type["category"] != "Customer":
        raise ApiError(400, "parameter_invalid", "Ticket type is not a customer ticket type")
    if not isinstance(attributes, dict):
        raise ApiError(400, "parameter_invalid", "ticket_attributes must be an object")
    records.check_ticket_attributes(ticket_type, attributes, ApiError)
    seq = (Store.scalar(db, "SELECT MAX(seq) FROM tickets") or 0) + 1
    state = (
        _first_state(db, ticket_type) if state_id is None else _state_of(db, ticket_type, state_id)
    )
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
    return find_ticket(db, ticket_id)


def find_ticket(db: Any, ticket_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM tickets WHERE id = ?", ticket_id)
    if found is None:
        raise ApiError(404, "ticket_not_found", "Ticket not found")
    return found


def save(db: Any, ticket: Record) -> None:
    db.execute("UPDATE tickets SET body = ? WHERE id = ?", (dumps(ticket), ticket["id"]))


def _state_of(db: Any, ticket_type: Record, state_id: Any) -> Record:
    """One of the type's states; what Intercom answers for any other."""
    for state in records.ticket_states_of(db, ticket_type["id"]):
        if state["id"] == str(state_id):
            return state
    raise ApiError(
        400,
        "ticket_state_id_invalid",
        "Ticket state id is not valid or is not associated with the ticket type",
    )


def add_part(
    db: Any, ticket: Record, part_type: str, author: Record, now: int, **fields: Any
) -> Record:
    """Record one part of a ticket (a reply, a state change, an assignment)."""
    part = parts.new_part(db, part_type, author, now, **fields)
    part["type"] = "ticket_part"
    for key in ("notified_at", "state"):
        part.pop(key, None)
    listed = ticket["ticket_parts"]
    listed["ticket_parts"].append(part)
    listed["total_count"] = len(listed["ticket_parts"])
    ticket["updated_at"] = now
    return part


def assign(db: Any, ticket: Record, assignee_id: Any, author: Record, now: int) -> str:
    """An admin's id assigns the admin, a team's the team; 0 assigns nobody. The topic of
    the change's webhook notification."""
    assignee = str(assignee_id)
    if assignee == "0":
        ticket["admin_assignee_id"] = ticket["team_assignee_id"] = 0
        assigned: Record = {"type": "nobody_admin", "id": None}
    elif Store.one(db, "SELECT body FROM admins WHERE id = ?", assignee) is not None:
        ticket["admin_assignee_id"] = int(assignee)
        assigned = {"type": "admin", "id": assignee}
    elif Store.one(db, "SELECT body FROM teams WHERE id = ?", assignee) is not None:
        ticket["team_assignee_id"] = int(assignee)
        assigned = {"type": "team", "id": assignee}
    else:
        raise ApiError(404, "assignee_not_found", "Assignee not found")
    add_part(db, ticket, "assignment", author, now, assigned_to=assigned)
    return "ticket.team.assigned" if assigned["type"] == "team" else "ticket.admin.assigned"


_FLAGS = ("open", "is_shared")


@route("PUT", "/tickets/{ticket_id}")
def update_ticket(db: Any, request: Request, ticket_id: str) -> Record:
    ticket = find_ticket(db, ticket_id)
    body = request.json_object()
    now = request.now()
    topics: list[str] = []
    admin_id = body.get("admin_id")
    if admin_id is not None:
        author = parts.admin_author(parts.find_admin(db, admin_id))
    elif "assignee_id" in body:
        raise ApiError(400, "parameter_not_found", "admin_id is required to assign", "admin_id")
    else:
        author = parts.admin_author(parts.find_admin(db, records.OWNER_ID))
    ticket_type = Store.one(
        db, "SELECT body FROM ticket_types WHERE id = ?", ticket["ticket_type"]["id"]
    )
    assert ticket_type is not None
    attributes = body.get("ticket_attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            raise ApiError(400, "parameter_invalid", "ticket_attributes must be an object")
        merged = {**ticket["ticket_attributes"], **attributes}
        records.check_ticket_attributes(ticket_type, merged, ApiError)
        ticket["ticket_attributes"] = merged
        topics.append("ticket.attribute.updated")
    for flag in _FLAGS:
        if flag in body and not isinstance(body[flag], bool):
            raise ApiError(400, "parameter_invalid", f"{flag} must be true or false", flag)
    if body.get("ticket_state_id") is not None:
        state = _state_of(db, ticket_type, body["ticket_state_id"])
        previous = ticket["ticket_state"]
        if state["id"] != previous["id"]:
            add_part(db, ticket, "ticket_state_updated_by_admin", author, now,
                     ticket_state=state["category"],
                     previous_ticket_state=previous["category"])  # fmt: skip
            ticket["previous_ticket_state_id"] = previous["id"]
            ticket["ticket_state"] = state
            topics.insert(0, "ticket.state.updated")
    if "snoozed_until" in body:
        until = body["snoozed_until"]
        if isinstance(until, bool) or not isinstance(until, int):
            raise ApiError(400, "parameter_invalid", "snoozed_until must be a unix timestamp")
        ticket["snoozed_until"] = until
    for flag in _FLAGS:
        if flag in body:
            ticket[flag] = body[flag]
    if body.get("open") is False:
        ticket["snoozed_until"] = 0  # closing a ticket also unsnoozes it
    if "assignee_id" in body:
        topics.append(assign(db, ticket, body["assignee_id"], author, now))
    ticket["updated_at"] = now
    save(db, ticket)
    for topic in topics or ["ticket.attribute.updated"]:
        request.notify(topic, ticket)
    return ticket


@route("DELETE", "/tickets/{ticket_id}")
def delete_ticket(db: Any, request: Request, ticket_id: str) -> Record:
    ticket = find_ticket(db, ticket_id)
    db.execute("DELETE FROM tickets WHERE id = ?", (ticket["id"],))
    return {"id": ticket["id"], "object": "ticket", "deleted": True}


@route("POST", "/tickets/{ticket_id}/reply")
def reply_to_ticket(db: Any, request: Request, ticket_id: str) -> Record:
    ticket = find_ticket(db, ticket_id)
    body = request.json_object()
    message_type, author, contact = parts.reply_from(db, body)
    if contact is not None and ticket["category"] == "Back-office":
        message = "User replies are not allowed on Backoffice tickets"
        raise ApiError(400, "parameter_mismatch", message)
    attached = parts.attachments(body.get("attachment_urls"))
    part = add_part(db, ticket, message_type, author, request.now(),
                    body=parts.as_html(body["body"]), attachments=attached)  # fmt: skip
    save(db, ticket)
    if contact is not None:
        request.notify("ticket.contact.replied", ticket)
    elif message_type == "note":
        request.notify("ticket.note.created", ticket)
    return {key: value for key, value in part.items() if key != "external_id"}


#: how the ticket search names a ticket's category
_CATEGORY_TERMS = {"Customer": "request", "Back-office": "task", "Tracker": "tracker"}


def search_view(ticket: Record) -> Record:
    """A ticket as the search language sees it."""
    attributes = ticket["ticket_attributes"]
    teammates = {
        part["author"]["id"]
        for part in ticket["ticket_parts"]["ticket_parts"]
        if part["author"]["type"] == "admin"
    }
    return {
        **ticket,
        "title": attributes.get("_default_title_"),
        "description": attributes.get("_default_description_"),
        "category": _CATEGORY_TERMS.get(ticket["category"], ticket["category"]),
        "ticket_type_id": ticket["ticket_type"]["id"],
        "contact_ids": [c["id"] for c in ticket["contacts"]["contacts"]],
        "teammate_ids": sorted(teammates),
        "state": ticket["ticket_state"]["category"],
        "_record": ticket,
    }


@route("POST", "/tickets/search")
def search_tickets(db: Any, request: Request) -> Record:
    stored = Store.many(db, "SELECT body FROM tickets ORDER BY seq DESC")
    window, answer = search_answer(
        request, [search_view(ticket) for ticket in stored], TICKETS, "ticket.list",
        page_max=SEARCH_PAGE_MAX,
    )  # fmt: skip
    return {**answer, "tickets": [view["_record"] for view in window]}
