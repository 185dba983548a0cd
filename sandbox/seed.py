"""The demo workspace a fresh or reset sandbox holds: admins and teams, companies, ~50
contacts, tags, segments, two ticket types and their states, the custom data attributes
they use, a support inbox of conversations and tickets, a help center (collections and
articles), subscription types, notes and data events. Deterministic: the same ids and values
after every reset (data events fall in the days before it, since Intercom lists only the
last 90 days). Even an empty workspace has its owner, the admin of /me."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from intercom_connector.sandbox import parts, records
from intercom_connector.sandbox.routes import (
    articles,
    conversations,
    events,
    notes,
    subscriptions,
    tickets,
)
from intercom_connector.sandbox.store import Record, Store, dumps

#: raised when the demo workspace gains something that a sandbox made earlier lacks (5 was
#: the support inbox on one branch, the help center and subscription types on another: 6
#: upgrades either, each step adding only what the sandbox does not have yet)
VERSION = 6
#: 2024-01-01T00:00:00Z; seeded objects are created in the days after it
EPOCH = 1704067200
DAY = 86400

COMPANIES = [
    ("acme", "Acme Anvils", "Manufacturing", 120, "Pro"),
    ("globex", "Globex Corporation", "Energy", 560, "Enterprise"),
    ("initech", "Initech", "Software", 85, "Starter"),
    ("umbrella", "Umbrella Health", "Healthcare", 2300, "Enterprise"),
    ("hooli", "Hooli", "Internet", 940, "Pro"),
]
FIRST = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara",
         "Ken", "Frances", "Tim", "Radia", "John", "Hedy", "Edsger", "Annie", "Donald"]  # fmt: skip
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie",
        "Liskov", "Thompson", "Allen", "Berners-Lee", "Perlman", "McCarthy"]  # fmt: skip
TAGS = ["VIP", "Beta tester", "Churn risk", "Newsletter", "Partner"]
CITIES = [("GB", "England", "London"), ("US", "California", "San Francisco"),
          ("DE", "Berlin", "Berlin"), ("AU", "New South Wales", "Sydney")]  # fmt: skip
CONTACTS = 50
#: (id, name, email, job title, away); the first is the owner of the sandbox's tokens
ADMINS = [
    (records.OWNER_ID, "Sandbox Admin", "admin@sandbox.example", "Support", False),
    ("991267002", "Sam Support", "sam@sandbox.example", "Support engineer", False),
    ("991267003", "Sasha Sales", "sasha@sandbox.example", "Account executive", False),
    ("991267004", "Alex Away", "alex@sandbox.example", "Billing specialist", True),
]  # fmt: skip
#: the workspace's custom attributes: (model, name, data type, description, archived)
DATA_ATTRIBUTES = [
    ("contact", "plan_tier", "string", "The plan the person is on: free, pro or enterprise", False),
    ("contact", "seats", "integer", "Seats the person manages", False),
    ("contact", "beta_opt_in", "boolean", "Agreed to try features in beta", False),
    ("contact", "legacy_crm_id", "string", "The id in the CRM used before 2023", True),
    ("company", "region", "string", "Sales region, e.g. EMEA", False),
    ("company", "account_manager", "string", "Who manages the account", False),
]  # fmt: skip
#: (id, name, member admin ids, distribution method)
TEAMS = [
    ("991268001", "Support", [records.OWNER_ID, "991267002"], "round_robin"),
    ("991268002", "Sales", ["991267003"], "balanced"),
    ("991268003", "Billing", ["991267004"], "round_robin"),
]  # fmt: skip
#: (name, person type, model, rule): contacts' rules are search queries, companies' one test
SEGMENTS = [
    ("Users", "user", "contact", {"field": "role", "operator": "=", "value": "user"}),
    ("Leads", "contact", "contact", {"field": "role", "operator": "=", "value": "lead"}),
    ("Enterprise plan", "user", "contact",
     {"field": "custom_attributes.plan_tier", "operator": "=", "value": "enterprise"}),
    ("Enterprise companies", "user", "company",
     {"field": "plan.name", "operator": "=", "value": "Enterprise"}),
    ("Large companies", "user", "company", {"field": "size", "operator": ">", "value": 500}),
]  # fmt: skip
#: (id, category, internal label, external label, the ticket types using it)
TICKET_STATES = [
    ("1", "submitted", "Submitted", "Submitted", ["1", "2"]),
    ("2", "in_progress", "In progress", "In progress", ["1", "2"]),
    ("3", "waiting_on_customer", "Waiting on customer", "Waiting on you", ["1", "2"]),
    ("4", "resolved", "Resolved", "Resolved", ["1", "2"]),
    ("5", "in_progress", "Reproducing", "Investigating", ["1"]),
]  # fmt: skip

#: the help center: (id, name, description) of each collection ...
COLLECTIONS = [
    (2713580, "Getting started", "Set up your workspace and invite your team"),
    (2713581, "Billing", "Plans, invoices and payment methods"),
    (2713582, "Integrations", "Connect the tools you already use"),
]  # fmt: skip
#: ... and (id, title, description, Markdown body, state, collection, author) of each article
ARTICLES = [
    (9331001, "Welcome to the product", "What you can do in your first week",
     "# Welcome\n\nStart with **three steps**:\n\n- create a project\n- invite your team\n"
     "- connect your CRM", "published", 2713580, records.OWNER_ID),
    (9331002, "Invite your teammates", "Add people to your workspace",
     "Open *Settings*, then **Teammates**, and send an invitation.", "published", 2713580,
     "991267002"),
    (9331003, "Change your plan", "Upgrade, downgrade or cancel",
     "Your plan changes at the start of the next billing period.", "published", 2713581,
     "991267004"),
    (9331004, "Connect your CRM", "Sync contacts both ways",
     "Coming soon: a two-way sync with your CRM.", "draft", 2713582, "991267003"),
]  # fmt: skip
#: (id, name, description, consent type) of each subscription type
SUBSCRIPTION_TYPES = [
    ("1001", "Newsletter", "News from us, once a month", "opt_out"),
    ("1002", "Product updates", "New features and changes", "opt_out"),
    ("1003", "Beta invitations", "Invitations to try features before anyone else", "opt_in"),
]  # fmt: skip
#: data events of demo users: (name, days before the reset, metadata)
EVENTS: list[tuple[str, int, dict[str, Any]]] = [
    ("logged-in", 1, {}),
    ("logged-in", 3, {}),
    ("created-project", 2, {"project": "Onboarding", "seats": 3}),
    ("invited-teammate", 5, {"invite_code": "ADDAFRIEND"}),
]  # fmt: skip


def _hex_id(kind: str, number: int) -> str:
    return hashlib.sha1(f"sandbox-{kind}-{number}".encode()).hexdigest()[:24]


def prepare_workspace(store: Store, *, demo: bool) -> None:
    """A new store becomes the demo workspace (or an empty one) the first time it is opened;
    after that opening it changes nothing, so an emptied sandbox stays empty."""
    with store.transaction() as db:
        state = Store.meta(db, "seeded")
        if state is None:
            _fill(db, demo=demo)
        elif int(Store.meta(db, "version") or 1) < VERSION:
            _upgrade(db, demo=state != "empty")


def seed_workspace(store: Store, *, demo: bool = True) -> None:
    """Fill a cleared store with the demo workspace (or mark it as deliberately empty)."""
    with store.transaction() as db:
        _fill(db, demo=demo)


def _fill(db: Any, *, demo: bool) -> None:
    _settings(db, demo=demo)
    if demo:
        company_ids = _companies(db)
        tag_ids = [records.insert_tag(db, name)["id"] for name in TAGS]
        for number in range(CONTACTS):
            _contact(db, number, company_ids, tag_ids)
        _ticket_types(db)
        _support_inbox(db)
        notes.add_note(db, {"body": "Renewal call booked for March."},
                       company_id=company_ids[0], now=EPOCH + 30 * DAY)  # fmt: skip
    Store.set_meta(db, "seeded", "1" if demo else "empty")
    Store.set_meta(db, "version", str(VERSION))


def _upgrade(db: Any, *, demo: bool) -> None:
    """A sandbox made by an earlier version gets what the demo workspace has gained since;
    the custom attributes its records already hold become the workspace's attributes."""
    _settings(db, demo=demo)
    if demo and not Store.scalar(db, "SELECT COUNT(*) FROM conversations"):
        _support_inbox(db)
    for model, table in (("contact", "contacts"), ("company", "companies")):
        in_use: dict[str, Any] = {}
        for (body,) in db.execute(f"SELECT body FROM {table}"):
            for name, value in (json.loads(body).get("custom_attributes") or {}).items():
                in_use.setdefault(name, value)
        for name, value in in_use.items():
            _data_attribute(db, model, name, _data_type(value), None)
    Store.set_meta(db, "version", str(VERSION))


def _data_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float"}.get(type(value), "string")


def _settings(db: Any, *, demo: bool) -> None:
    """What a workspace is set up with rather than what it records: admins, teams,
    segments, ticket states, data attributes. Adds only what is missing."""
    _admins(db, demo=demo)
    if not demo:
        return
    for team_id, name, admin_ids, distribution in TEAMS:
        team = records.new_team(team_id, name, admin_ids, distribution)
        db.execute("INSERT OR IGNORE INTO teams (id, body) VALUES (?, ?)", (team_id, dumps(team)))
    for number, (name, person_type, model, rule) in enumerate(SEGMENTS):
        segment = records.new_segment(_hex_id("segment", number), name, person_type, EPOCH)
        db.execute(
            "INSERT OR IGNORE INTO segments (id, model, rule, body) VALUES (?, ?, ?, ?)",
            (segment["id"], model, json.dumps(rule), dumps(segment)),
        )
    for state_id, category, internal, external, type_ids in TICKET_STATES:
        state = records.new_ticket_state(state_id, category, internal, external)
        db.execute(
            "INSERT OR IGNORE INTO ticket_states (id, ticket_type_ids, body) VALUES (?, ?, ?)",
            (state_id, json.dumps(type_ids), dumps(state)),
        )
    _data_attributes(db)
    _help_center(db)
    for type_id, name, description, consent in SUBSCRIPTION_TYPES:
        kind = subscriptions.new_subscription_type(type_id, name, description, consent)
        db.execute(
            "INSERT OR IGNORE INTO subscription_types (id, body) VALUES (?, ?)",
            (type_id, dumps(kind)),
        )


def _help_center(db: Any) -> None:
    """The demo help center's collections and articles, when it has none of them."""
    for order, (collection_id, name, description) in enumerate(COLLECTIONS):
        collection = articles.new_collection(collection_id, name, description, order, EPOCH)
        db.execute(
            "INSERT OR IGNORE INTO collections (id, body) VALUES (?, ?)",
            (collection_id, dumps(collection)),
        )
    if Store.scalar(db, "SELECT COUNT(*) FROM articles"):
        return
    for number, (article_id, title, about, markdown, state, parent, author) in enumerate(ARTICLES):
        fields = {"title": title, "description": about, "body_markdown": markdown,
                  "state": state, "parent_id": parent, "author_id": int(author)}  # fmt: skip
        articles.new_article(db, fields, EPOCH + number * DAY, article_id=article_id)


def _admins(db: Any, *, demo: bool) -> None:
    for admin_id, name, email, job_title, away in ADMINS if demo else ADMINS[:1]:
        admin = records.new_admin(admin_id, name, email, job_title)
        admin["away_mode_enabled"] = admin["away_mode_reassign"] = away
        db.execute(
            "INSERT OR IGNORE INTO admins (id, body) VALUES (?, ?)", (admin_id, dumps(admin))
        )


def _data_attributes(db: Any) -> None:
    for model, name, data_type, description, archived in DATA_ATTRIBUTES:
        attribute = _data_attribute(db, model, name, data_type, description)
        if attribute and archived:
            records.save_data_attribute(db, {**attribute, "archived": True})


def _data_attribute(
    db: Any, model: str, name: str, data_type: str, description: str | None
) -> Record | None:
    """A new custom attribute, or None when the workspace has it already."""
    sql = "SELECT 1 FROM data_attributes WHERE model = ? AND name = ?"
    if Store.scalar(db, sql, model, name):
        return None
    fields = {"model": model, "name": name, "data_type": data_type, "description": description}
    return records.insert_data_attribute(db, fields, EPOCH)


def _companies(db: Any) -> list[str]:
    ids = []
    for number, (key, name, industry, size, plan) in enumerate(COMPANIES):
        created = EPOCH + number * DAY
        company = records.new_company(
            _hex_id("company", number),
            {
                "company_id": key,
                "name": name,
                "industry": industry,
                "size": size,
                "plan": plan,
                "website": f"https://{key}.example",
                "monthly_spend": size * 10,
                "remote_created_at": created - 365 * DAY,
            },
            created,
        )
        records.save_company(db, company)
        ids.append(company["id"])
    return ids


def _contact(db: Any, number: int, company_ids: list[str], tag_ids: list[str]) -> None:
    first, last = FIRST[number % len(FIRST)], LAST[(number * 7) % len(LAST)]
    role = "lead" if number % 5 == 4 else "user"
    company = number % len(COMPANIES)
    created = EPOCH + (10 + number) * DAY
    country, region, city = CITIES[number % len(CITIES)]
    fields: dict[str, Any] = {
        "role": role,
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{number}@{COMPANIES[company][0]}.example".lower(),
        "signed_up_at": created if role == "user" else None,
        "last_seen_at": created + (number % 9) * DAY,
        "unsubscribed_from_emails": number % 7 == 0,
        "custom_attributes": {"plan_tier": ["free", "pro", "enterprise"][number % 3]},
    }
    if role == "user":
        fields["external_id"] = f"crm-{1000 + number}"
    contact = records.new_contact(_hex_id("contact", number), fields, created)
    contact["location"] = {"type": "location", "country": country, "region": region, "city": city}
    records.save_contact(db, contact)
    if role == "user":
        db.execute(
            "INSERT INTO contact_companies (contact_id, company_id) VALUES (?, ?)",
            (contact["id"], company_ids[company]),
        )
    if number % 3 == 0:
        db.execute(
            "INSERT INTO contact_tags (contact_id, tag_id, applied_at) VALUES (?, ?, ?)",
            (contact["id"], tag_ids[number % len(tag_ids)], created + DAY),
        )
    if number % 7 == 0:
        _subscribe(db, contact["id"], "1001")  # opted out of the newsletter
    if number % 4 == 0:
        _subscribe(db, contact["id"], "1003")  # opted in to beta invitations
    if number % 5 == 0:
        author = ADMINS[number % len(ADMINS)][0]
        text = f"Talked about the {fields['custom_attributes']['plan_tier']} plan."
        notes.add_note(db, {"body": text, "admin_id": author}, contact_id=contact["id"],
                       now=created + 2 * DAY)  # fmt: skip
    if role == "user" and number % 2 == 0:
        today = int(time.time()) // DAY * DAY
        for name, days_before, metadata in EVENTS:
            events.record_event(db, contact, name, today - days_before * DAY, metadata)


def _subscribe(db: Any, contact_id: str, type_id: str) -> None:
    db.execute(
        "INSERT INTO contact_subscriptions (contact_id, subscription_type_id) VALUES (?, ?)",
        (contact_id, type_id),
    )


def _ticket_types(db: Any) -> None:
    for ticket_type in (
        records.ticket_type(
            "1", "Bug Report", "Something in the product does not work",
            [("severity", "string", False), ("reproducible", "boolean", False)], EPOCH,
        ),
        records.ticket_type(
            "2", "Feature Request", "An idea for the product",
            [("product_area", "string", False)], EPOCH,
        ),
    ):  # fmt: skip
        db.execute(
            "INSERT INTO ticket_types (id, body) VALUES (?, ?)",
            (ticket_type["id"], dumps(ticket_type)),
        )


HOUR = 3600
#: the support inbox: (contact number, its message, what happens next); the contact of
#: number 45 is the latest to be tagged VIP, with two open conversations and a closed one
CONVERSATIONS: list[tuple[int, str, list[tuple[str, ...]]]] = [
    (45, "Our invoice for March charged us twice.",
     [("comment", "991267002", "Sorry about that! I am looking into it now."),
      ("contact", "Thanks, it is urgent for our finance team.")]),
    (45, "Can we add 20 more seats to our plan?", [("tag", "VIP")]),
    (45, "The export to CSV times out.",
     [("comment", "991267002", "Fixed in today's release."), ("close", "991267002")]),
    (0, "How do I reset my password?",
     [("comment", "991267001", "Use Forgot password on the sign-in page."),
      ("close", "991267001")]),
    (3, "Is there an API for bulk imports?",
     [("assign", "991267001", "admin", "991267002"),
      ("note", "991267002", "Send the developer docs link.")]),
    (7, "The mobile app crashes on login.", [("snooze", "991267001")]),
    (12, "Please cancel my subscription.",
     [("assign", "991267001", "team", "991268002"), ("tag", "Churn risk")]),
    (20, "Where can I download my invoices?",
     [("comment", "991267004", "Under Settings, Billing."), ("close", "991267004")]),
    (33, "Love the new dashboard!", [("read",), ("close", "991267001")]),
    (38, "Our SSO login fails since this morning.",
     [("assign", "991267001", "team", "991268001"), ("tag", "Churn risk")]),
]  # fmt: skip
#: a snoozed conversation wakes long after any demo
SNOOZED_UNTIL = 4102444800
#: (contact number, ticket type id, title, state id, assignee admin id or None)
TICKETS = [
    (3, "1", "Bulk import drops rows with accents", "2", "991267002"),
    (12, "2", "Dark mode", "1", None),
]  # fmt: skip


def _support_inbox(db: Any) -> None:
    """The conversations and tickets of the demo workspace, each change a part."""
    tags = {tag["name"]: tag for tag in Store.many(db, "SELECT body FROM tags")}
    for index, (number, message, happenings) in enumerate(CONVERSATIONS):
        contact = Store.one(
            db, "SELECT body FROM contacts WHERE id = ?", _hex_id("contact", number)
        )
        if contact is None:
            continue  # a sandbox whose demo contacts were deleted
        now = EPOCH + (60 + index) * DAY
        conversation = conversations.new_conversation(db, contact, message, now)
        for event in happenings:
            now += HOUR
            _happen(db, conversation, contact, event, now, tags)
        conversation["updated_at"] = now
        conversations.save(db, conversation)
    for number, type_id, title, state_id, assignee in TICKETS:
        contact = Store.one(
            db, "SELECT body FROM contacts WHERE id = ?", _hex_id("contact", number)
        )
        if contact is None:
            continue
        now = EPOCH + (70 + number) * DAY
        attributes = {"_default_title_": title}
        ticket = tickets.open_ticket(db, type_id, contact, attributes, now, state_id=state_id)
        if assignee is not None:
            author = parts.admin_author(parts.find_admin(db, records.OWNER_ID))
            tickets.assign(db, ticket, assignee, author, now + HOUR)
        tickets.save(db, ticket)


def _happen(
    db: Any, conversation: Record, contact: Record, event: tuple[str, ...], now: int,
    tags: dict[str, Record],
) -> None:  # fmt: skip
    kind, *rest = event
    if kind == "contact":
        conversations.add_part(db, conversation, "comment", parts.contact_author(contact), now,
                               body=rest[0])  # fmt: skip
        conversation["waiting_since"] = now
        return
    if kind == "tag":
        tag = tags[rest[0]]
        by = {"type": "admin", "id": records.OWNER_ID}
        applied = {"type": "tag", "id": tag["id"], "name": tag["name"], "applied_at": now}
        conversation["tags"]["tags"].append({**applied, "applied_by": by})
        return
    if kind == "read":
        conversation["read"] = True
        return
    admin = parts.admin_author(parts.find_admin(db, rest[0]))
    if kind in ("comment", "note"):
        conversations.add_part(db, conversation, kind, admin, now, body=rest[1])
        if kind == "comment":
            conversation["waiting_since"] = None
    elif kind == "close":
        conversations.add_part(db, conversation, "close", admin, now, state="closed")
    elif kind == "snooze":
        conversations.add_part(db, conversation, "snoozed", admin, now, state="snoozed")
        conversation["snoozed_until"] = SNOOZED_UNTIL
    elif kind == "assign":
        _, assignee_type, assignee_id = rest
        field = "team_assignee_id" if assignee_type == "team" else "admin_assignee_id"
        conversation[field] = int(assignee_id)
        conversations.add_part(db, conversation, "assignment", admin, now,
                               assigned_to={"type": assignee_type, "id": assignee_id})  # fmt: skip
