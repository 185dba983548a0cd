"""Intercom's objects as the API returns them (contact, company, tag, ticket, ticket
state, admin, team, segment, data attribute).

Stored records hold what was set; the related lists (a contact's tags and companies, a
company's user count) are joined in when an object is rendered, so they are always
current. Fields the description declares non-nullable are left out rather than sent as
null when they have no value.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

from intercom_connector.sandbox.segment_rules import company_segments
from intercom_connector.sandbox.store import Record, Store, dumps

WORKSPACE_ID = "sbx0demo"

_CONTACT_NULLABLE = frozenset({
    "external_id", "phone", "name", "owner_id", "signed_up_at", "last_seen_at",
    "last_replied_at", "last_contacted_at", "last_email_opened_at", "last_email_clicked_at",
    "language_override", "browser", "browser_version", "browser_language", "os", "avatar",
    "android_app_name", "android_app_version", "android_device", "android_os_version",
    "android_sdk_version", "android_last_seen_at", "ios_app_name", "ios_app_version",
    "ios_device", "ios_os_version", "ios_sdk_version", "ios_last_seen_at",
})  # fmt: skip


def _without_nulls(record: Record, nullable: frozenset[str] = frozenset()) -> Record:
    return {k: v for k, v in record.items() if v is not None or k in nullable}


def new_contact(contact_id: str, fields: Record, now: int) -> Record:
    """A contact as stored: what was set, plus what Intercom fills in."""
    contact: Record = {
        "type": "contact",
        "id": contact_id,
        "workspace_id": WORKSPACE_ID,
        "role": "user",
        "email": "",
        "external_id": None,
        "phone": None,
        "name": None,
        "avatar": None,
        "owner_id": None,
        "has_hard_bounced": False,
        "marked_email_as_spam": False,
        "unsubscribed_from_emails": False,
        "created_at": now,
        "updated_at": now,
        "signed_up_at": None,
        "last_seen_at": None,
        "last_replied_at": None,
        "last_contacted_at": None,
        "last_email_opened_at": None,
        "last_email_clicked_at": None,
        "language_override": None,
        "browser": None,
        "os": None,
        "custom_attributes": {},
        "location": {"type": "location", "country": None, "region": None, "city": None},
        "archived": False,
    }
    return apply_contact_changes(contact, fields, now)


def apply_contact_changes(contact: Record, changes: Record, now: int) -> Record:
    updated = dict(contact)
    for key, value in changes.items():
        if key == "custom_attributes":
            updated["custom_attributes"] = {**contact.get("custom_attributes", {}), **(value or {})}
        elif key == "email_verified":
            continue
        else:
            updated[key] = value
    updated["email"] = updated.get("email") or ""
    updated["updated_at"] = now
    return updated


def save_contact(db: Any, contact: Record) -> None:
    db.execute(
        "INSERT OR REPLACE INTO contacts (seq, id, email, external_id, role, archived, body) "
        "VALUES ((SELECT seq FROM contacts WHERE id = ?), ?, ?, ?, ?, ?, ?)",
        (
            contact["id"],
            contact["id"],
            contact.get("email") or None,
            contact.get("external_id"),
            contact["role"],
            int(contact.get("archived", False)),
            dumps(contact),
        ),
    )


def _related(db: Any, sql: str, ids: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {i: [] for i in ids}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        marks = ",".join("?" * len(part))
        for row in db.execute(sql.format(marks=marks), part):
            found[row[0]].append(tuple(row[1:]))
    return found


def render_contacts(db: Any, contacts: list[Record]) -> list[Record]:
    """Contacts as the API returns them, their tags and companies joined in (in batches)."""
    ids = [contact["id"] for contact in contacts]
    tags = _related(
        db, "SELECT contact_id, tag_id FROM contact_tags WHERE contact_id IN ({marks}) "
        "ORDER BY applied_at, tag_id", ids,
    )  # fmt: skip
    companies = _related(
        db, "SELECT contact_id, company_id FROM contact_companies WHERE contact_id IN ({marks}) "
        "ORDER BY company_id", ids,
    )  # fmt: skip
    return [_render_contact(c, tags[c["id"]], companies[c["id"]]) for c in contacts]


def render_contact(db: Any, contact: Record) -> Record:
    return render_contacts(db, [contact])[0]


def _listing(items: list[Record], url: str) -> Record:
    return {
        "type": "list",
        "data": items,
        "url": url,
        "total_count": len(items),
        "has_more": False,
    }


def _render_contact(
    contact: Record, tags: list[tuple[Any, ...]], companies: list[tuple[Any, ...]]
) -> Record:
    shown = {k: v for k, v in contact.items() if k not in ("archived", "blocked")}
    contact_id = contact["id"]
    email = contact.get("email") or ""
    shown["email_domain"] = email.split("@", 1)[1] if "@" in email else ""
    avatar = contact.get("avatar")
    shown["avatar"] = {"type": "avatar", "image_url": avatar} if avatar else None
    base = f"/contacts/{contact_id}"
    shown["tags"] = _listing(
        [{"type": "tag", "id": str(t), "url": f"/tags/{t}"} for (t,) in tags], f"{base}/tags"
    )
    shown["companies"] = _listing(
        [{"type": "company", "id": c, "url": f"/companies/{c}"} for (c,) in companies],
        f"{base}/companies",
    )
    shown["notes"] = _listing([], f"{base}/notes")
    shown["social_profiles"] = {"type": "list", "data": []}
    return _without_nulls(shown, _CONTACT_NULLABLE)


def search_views(db: Any) -> list[Record]:
    """Every unarchived contact as the search language sees it (with tag and company ids)."""
    rows = db.execute("SELECT id, body FROM contacts WHERE archived = 0 ORDER BY seq").fetchall()
    tags = _group(db, "SELECT contact_id, tag_id FROM contact_tags")
    companies = _group(db, "SELECT contact_id, company_id FROM contact_companies")
    return [
        _search_view(json.loads(body), tags.get(contact_id, ()), companies.get(contact_id, ()))
        for contact_id, body in rows
    ]


def search_view(db: Any, contact: Record) -> Record:
    """One contact as the search language sees it."""
    tags = db.execute("SELECT tag_id FROM contact_tags WHERE contact_id = ?", (contact["id"],))
    companies = db.execute(
        "SELECT company_id FROM contact_companies WHERE contact_id = ?", (contact["id"],)
    )
    return _search_view(contact, [str(t) for (t,) in tags], [c for (c,) in companies])


def _search_view(record: Record, tag_ids: Any, company_ids: Any) -> Record:
    view = dict(record)
    email = record.get("email") or ""
    view["email_domain"] = email.split("@", 1)[1] if "@" in email else None
    view["email"] = email or None
    view["tag_ids"] = tag_ids
    view["company_ids"] = company_ids
    view["_record"] = record
    return view


def _group(db: Any, sql: str) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in db.execute(sql):
        grouped.setdefault(key, []).append(str(value))
    return grouped


def new_company(company_id: str, fields: Record, now: int) -> Record:
    company: Record = {
        "type": "company",
        "id": company_id,
        "company_id": fields.get("company_id") or company_id,
        "app_id": WORKSPACE_ID,
        "name": None,
        "remote_created_at": None,
        "created_at": now,
        "updated_at": now,
        "last_request_at": None,
        "monthly_spend": 0,
        "session_count": 0,
        "size": None,
        "website": None,
        "industry": None,
        "plan": None,
        "custom_attributes": {},
    }
    return apply_company_changes(company, fields, now)


def apply_company_changes(company: Record, changes: Record, now: int) -> Record:
    updated = dict(company)
    for key, value in changes.items():
        if key == "custom_attributes":
            updated["custom_attributes"] = {**company.get("custom_attributes", {}), **(value or {})}
        elif key == "plan":
            plan_id = str(zlib.crc32(str(value).encode()) % 10**6)
            updated["plan"] = {"type": "plan", "id": plan_id, "name": value}
        elif key == "update_last_request_at":
            if value:
                updated["last_request_at"] = now
        elif key != "company_id" or not company.get("company_id"):
            updated[key] = value
    updated["updated_at"] = now
    return updated


def save_company(db: Any, company: Record) -> None:
    db.execute(
        "INSERT OR REPLACE INTO companies (seq, id, company_id, name, body) VALUES "
        "((SELECT seq FROM companies WHERE id = ?), ?, ?, ?, ?)",
        (company["id"], company["id"], company["company_id"], company.get("name"), dumps(company)),
    )


def render_company(db: Any, company: Record) -> Record:
    shown = dict(company)
    shown["plan"] = company.get("plan") or {}
    shown["user_count"] = Store.scalar(
        db, "SELECT COUNT(*) FROM contact_companies WHERE company_id = ?", company["id"]
    )
    tags = Store.many(
        db,
        "SELECT t.body FROM tags t JOIN company_tags ct ON ct.tag_id = CAST(t.id AS TEXT) "
        "WHERE ct.company_id = ? ORDER BY t.id",
        company["id"],
    )
    shown["tags"] = {
        "type": "tag.list",
        "tags": [{"type": "tag", "id": t["id"], "name": t["name"]} for t in tags],
    }
    shown["segments"] = {
        "type": "segment.list",
        "segments": [segment for segment, holds in company_segments(db) if holds(company)],
    }
    return _without_nulls(shown)


def insert_tag(db: Any, name: str) -> Record:
    cursor = db.execute("INSERT INTO tags (name, body) VALUES (?, '{}')", (name,))
    tag = {"type": "tag", "id": str(cursor.lastrowid), "name": name}
    db.execute("UPDATE tags SET body = ? WHERE id = ?", (dumps(tag), cursor.lastrowid))
    return tag


def applied_tag(tag: Record, applied_at: int | None) -> Record:
    """A tag as attached to a contact: when, and by whom (the sandbox's admin)."""
    shown: Record = {"type": "tag", "id": tag["id"], "name": tag["name"]}
    if applied_at is not None:
        shown["applied_at"] = applied_at
        shown["applied_by"] = {"type": "admin", "id": OWNER_ID}
    return shown


def check_ticket_attributes(
    ticket_type: Record, attributes: Record, error: Callable[..., Exception]
) -> None:
    """Attributes must belong to the ticket type; required ones must be given."""
    declared = {
        a["name"]: a for a in ticket_type["ticket_type_attributes"]["ticket_type_attributes"]
    }
    for name, value in attributes.items():
        if name not in declared:
            known = ", ".join(sorted(declared))
            raise error(
                400, "parameter_invalid", f"unknown ticket attribute {name!r}; known: {known}"
            )
        kind = declared[name]["data_type"]
        if kind in ("string", "text") and not isinstance(value, str | type(None)):
            raise error(400, "parameter_invalid", f"ticket attribute {name!r} must be text")
        if kind == "boolean" and not isinstance(value, bool):
            raise error(
                400, "parameter_invalid", f"ticket attribute {name!r} must be true or false"
            )
    for name, attribute in declared.items():
        if attribute["required_to_create"] and name not in attributes:
            raise error(400, "parameter_invalid", f"ticket attribute {name!r} is required")


def new_ticket(
    ticket_id: str,
    number: str,
    ticket_type: Record,
    contact: Record,
    attributes: Record,
    now: int,
    state: Record,
) -> Record:
    return {
        "type": "ticket",
        "id": ticket_id,
        "ticket_id": number,
        "category": ticket_type["category"],
        "ticket_attributes": attributes,
        "ticket_state": state,
        "ticket_type": ticket_type,
        "contacts": {
            "type": "contact.list",
            "contacts": [
                {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}
            ],
        },
        "admin_assignee_id": 0,
        "team_assignee_id": 0,
        "created_at": now,
        "updated_at": now,
        "open": True,
        "snoozed_until": 0,
        "linked_objects": {"type": "list", "total_count": 0, "has_more": False, "data": []},
        "ticket_parts": {"type": "ticket_part.list", "ticket_parts": [], "total_count": 0},
        "is_shared": False,
    }


def ticket_type(
    type_id: str, name: str, description: str, extra: list[tuple[str, str, bool]], now: int
) -> Record:
    """A ticket type with the two default attributes and ``extra`` (name, type, required)."""
    attributes = [
        ("_default_title_", "string", True, "Title"),
        ("_default_description_", "string", False, "Description"),
        *[(n, kind, required, n.replace("_", " ").capitalize()) for n, kind, required in extra],
    ]
    return {
        "type": "ticket_type",
        "id": type_id,
        "category": "Customer",
        "name": name,
        "description": description,
        "icon": "🎟️",
        "workspace_id": WORKSPACE_ID,
        "archived": False,
        "created_at": now,
        "updated_at": now,
        "ticket_states": {"type": "list", "data": []},
        "ticket_type_attributes": {
            "type": "ticket_type_attributes.list",
            "ticket_type_attributes": [
                {
                    "type": "ticket_type_attribute",
                    "id": f"{type_id}{index:02d}",
                    "workspace_id": WORKSPACE_ID,
                    "name": attr_name,
                    "description": label,
                    "data_type": kind,
                    "input_options": {"multiline": attr_name == "_default_description_"},
                    "order": index,
                    "required_to_create": required,
                    "required_to_create_for_contacts": False,
                    "visible_on_create": True,
                    "visible_to_contacts": True,
                    "default": attr_name.startswith("_default_"),
                    "ticket_type_id": int(type_id),
                    "archived": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for index, (attr_name, kind, required, label) in enumerate(attributes)
            ],
        },
    }


#: the attributes every workspace has: (full name, label, description, data type, writable)
STANDARD_ATTRIBUTES: dict[str, list[tuple[str, str, str, str, bool]]] = {
    "contact": [
        ("id", "ID", "The Intercom defined id representing the contact", "string", False),
        ("role", "Role", "User or lead", "string", True),
        ("external_id", "User ID", "Your identifier for the contact", "string", True),
        ("email", "Email", "The contact's email address", "string", True),
        ("email_domain", "Email domain", "The domain of the contact's email", "string", False),
        ("phone", "Phone", "The contact's phone number", "string", True),
        ("name", "Name", "The contact's full name", "string", True),
        ("avatar", "Avatar", "An image URL of the contact's avatar", "string", True),
        ("owner_id", "Owner", "The admin who owns the contact", "integer", True),
        ("signed_up_at", "Signed up", "When the contact signed up", "date", True),
        ("last_seen_at", "Last seen", "When the contact was last seen", "date", True),
        ("unsubscribed_from_emails", "Unsubscribed from emails",
         "Whether the contact unsubscribed from emails", "boolean", True),
        ("created_at", "Created at", "When the contact was added to Intercom", "date", False),
        ("updated_at", "Updated at", "When the contact was last updated", "date", False),
        ("location.country", "Country", "The country the contact is in", "string", False),
        ("location.region", "Region", "The region the contact is in", "string", False),
        ("location.city", "City", "The city the contact is in", "string", False),
    ],
    "company": [
        ("name", "Company name", "The name of a company", "string", True),
        ("company_id", "Company ID", "A number identifying a company", "string", False),
        ("last_request_at", "Company last seen",
         "The last day anyone from a company visited your site or app", "date", False),
        ("remote_created_at", "Company created at", "The day a company was added to Intercom",
         "date", True),
        ("user_count", "People", "The number of people in a company", "integer", False),
        ("session_count", "Company web sessions",
         "All visits from anyone in a company to your product's site or app", "integer", False),
        ("plan.name", "Plan", "A specific plan or level within your product", "string", False),
        ("monthly_spend", "Monthly Spend", "The monthly revenue you receive from a company",
         "float", True),
        ("size", "Company size", "The number of people employed in this company", "integer",
         True),
        ("industry", "Company industry", "The category or domain this company belongs to",
         "string", True),
        ("website", "Company website", "The web address for the company's primary site",
         "string", True),
        ("id", "ID", "The Intercom defined id representing the company", "string", False),
        ("created_at", "Created at", "The time the company was added to Intercom", "date", False),
        ("updated_at", "Updated at", "The last time the company was updated", "date", False),
        ("plan.id", "Plan ID", "The Intercom defined id representing the plan", "string", False),
        ("app_id", "App ID", "The Intercom defined id representing the app", "string", False),
    ],
}  # fmt: skip


def standard_attributes(model: str) -> list[Record]:
    """The built-in attributes of ``model`` (contact or company), as the API lists them."""
    return [
        {
            "type": "data_attribute",
            "name": full_name.rsplit(".", 1)[-1],
            "full_name": full_name,
            "label": label,
            "description": description,
            "data_type": data_type,
            "api_writable": writable,
            "ui_writable": False,
            "messenger_writable": True,
            "custom": False,
            "archived": False,
            "model": model,
        }
        for full_name, label, description, data_type, writable in STANDARD_ATTRIBUTES[model]
    ]


def new_data_attribute(attribute_id: int, fields: Record, now: int) -> Record:
    """A custom data attribute: ``fields`` holds name, model, data_type and optionally
    description, options (a list of values) and messenger_writable."""
    name = fields["name"]
    return _without_nulls(
        {
            "id": attribute_id,
            "type": "data_attribute",
            "name": name,
            "full_name": f"custom_attributes.{name}",
            "label": name,
            "description": fields.get("description"),
            "data_type": fields["data_type"],
            "options": fields.get("options"),
            "api_writable": True,
            "ui_writable": False,
            "messenger_writable": bool(fields.get("messenger_writable", False)),
            "custom": True,
            "archived": False,
            "admin_id": OWNER_ID,
            "created_at": now,
            "updated_at": now,
            "model": fields["model"],
        }
    )


def insert_data_attribute(db: Any, fields: Record, now: int) -> Record:
    cursor = db.execute(
        "INSERT INTO data_attributes (model, name, body) VALUES (?, ?, '{}')",
        (fields["model"], fields["name"]),
    )
    attribute = new_data_attribute(int(cursor.lastrowid), fields, now)
    save_data_attribute(db, attribute)
    return attribute


def save_data_attribute(db: Any, attribute: Record) -> None:
    db.execute(
        "UPDATE data_attributes SET body = ? WHERE id = ?", (dumps(attribute), attribute["id"])
    )


#: the admin the sandbox's tokens belong to (GET /me)
OWNER_ID = "991267001"


def new_admin(admin_id: str, name: str, email: str, job_title: str) -> Record:
    """An admin (teammate) as stored."""
    return {
        "type": "admin",
        "id": admin_id,
        "name": name,
        "email": email,
        "job_title": job_title,
        "away_mode_enabled": False,
        "away_mode_reassign": False,
        "away_status_reason_id": None,
        "has_inbox_seat": True,
        "avatar": f"https://static.sandbox.example/avatars/{admin_id}.png",
    }


def render_admin(admin: Record, team_ids: list[int], *, avatar: bool = False) -> Record:
    """An admin as listed or retrieved; its avatar URL only when asked for."""
    shown = {key: value for key, value in admin.items() if key != "avatar"}
    shown["team_ids"] = team_ids
    if avatar:
        shown["avatar"] = admin.get("avatar")
    return shown


def render_me(admin: Record, team_ids: list[int], timezone: str = "UTC") -> Record:
    """The token's admin with its workspace (GET /me) and the workspace's timezone."""
    shown = render_admin(admin, team_ids)
    del shown["away_status_reason_id"]
    return {
        **shown,
        "avatar": {"type": "avatar", "image_url": admin.get("avatar")},
        "email_verified": True,
        "app": {
            "type": "app",
            "id_code": WORKSPACE_ID,
            "name": "Sandbox Workspace",
            "region": "US",
            "timezone": timezone,
            "created_at": 1700000000,
            "identity_verification": False,
        },
    }


def team_ids(db: Any, admin_id: str) -> list[int]:
    """The teams an admin belongs to (their ids are integers in an admin)."""
    teams = Store.many(db, "SELECT body FROM teams ORDER BY id")
    return [int(team["id"]) for team in teams if int(admin_id) in team["admin_ids"]]


def new_team(team_id: str, name: str, admin_ids: list[str], distribution: str) -> Record:
    members = [int(admin_id) for admin_id in admin_ids]
    return {
        "type": "team",
        "id": team_id,
        "name": name,
        "admin_ids": members,
        "admin_priority_level": {"primary_admin_ids": members[:1], "secondary_admin_ids": []},
        "assignment_limit": 10,
        "distribution_method": distribution,
    }


def new_segment(segment_id: str, name: str, person_type: str, now: int) -> Record:
    return {
        "type": "segment",
        "id": segment_id,
        "name": name,
        "created_at": now,
        "updated_at": now,
        "person_type": person_type,
    }


def new_ticket_state(state_id: str, category: str, internal: str, external: str) -> Record:
    return {
        "type": "ticket_state",
        "id": state_id,
        "category": category,
        "internal_label": internal,
        "external_label": external,
        "archived": False,
    }


_STATES_OF_TYPE = (
    "SELECT body FROM ticket_states WHERE ? IN (SELECT value FROM json_each(ticket_type_ids)) "
    "ORDER BY CAST(id AS INTEGER)"
)


def ticket_states_of(db: Any, ticket_type_id: str) -> list[Record]:
    """A ticket type's states, as a ticket or ticket type shows them."""
    states = Store.many(db, _STATES_OF_TYPE, ticket_type_id)
    return [{k: v for k, v in state.items() if k != "archived"} for state in states]


def render_ticket_type(db: Any, ticket_type: Record) -> Record:
    return {
        **ticket_type,
        "ticket_states": {"type": "list", "data": ticket_states_of(db, ticket_type["id"])},
    }


def render_ticket_state(db: Any, state: Record, type_ids: list[str]) -> Record:
    """A ticket state with the ticket types that use it (GET /ticket_states)."""
    marks = ",".join("?" * len(type_ids))
    types = Store.many(db, f"SELECT body FROM ticket_types WHERE id IN ({marks}) ORDER BY id",
                       *type_ids)  # fmt: skip
    summary = ("type", "id", "name", "description", "icon", "archived", "category")
    listed = [{key: ticket_type[key] for key in summary} for ticket_type in types]
    return {**state, "ticket_types": {"type": "list", "data": listed}}
