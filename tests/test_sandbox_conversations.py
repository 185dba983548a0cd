"""The sandbox's conversations and tickets behave as Intercom's do: each change a part,
states and assignees, replies that reopen, what is refused with which status and code.
(Every answer's shape is checked against the description in test_sandbox_conformance.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from intercom_connector.sandbox import Sandbox

ADMIN, SAM, UNKNOWN = "991267001", "991267002", "404"
SUPPORT_TEAM = "991268001"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sandbox = Sandbox(":memory:")
    yield sandbox
    sandbox.close()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    transport = sandbox.transport()
    with httpx.Client(transport=transport, base_url=sandbox.base_url, headers=headers) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code, error
    return str(error["message"])


def search(api: httpx.Client, path: str, query: dict[str, Any], **body: Any) -> Any:
    return ok(api.post(path, json={"query": query, **body}))


def contact(api: httpx.Client, role: str = "user") -> dict[str, Any]:
    query = {"field": "role", "operator": "=", "value": role}
    found: dict[str, Any] = search(api, "/contacts/search", query)["data"][0]
    return found


def start(api: httpx.Client, who: dict[str, Any], text: str = "Help!") -> dict[str, Any]:
    sender = {"type": who["role"], "id": who["id"]}
    message = ok(api.post("/conversations", json={"from": sender, "body": text}))
    conversation: dict[str, Any] = ok(api.get(f"/conversations/{message['conversation_id']}"))
    return conversation


def part_types(conversation: dict[str, Any]) -> list[str]:
    return [part["part_type"] for part in conversation["conversation_parts"]["conversation_parts"]]


def manage(api: httpx.Client, conversation_id: str, **part: Any) -> httpx.Response:
    return api.post(f"/conversations/{conversation_id}/parts", json={"admin_id": ADMIN, **part})


# -- a conversation's life, each change a part ------------------------------------------------


def test_every_state_change_is_a_part_by_the_acting_admin(api: httpx.Client) -> None:
    conversation = start(api, contact(api))
    cid = conversation["id"]
    assert (conversation["state"], conversation["open"], part_types(conversation)) == (
        "open",
        True,
        [],
    )

    closed = ok(manage(api, cid, message_type="close", type="admin", body="Solved"))
    assert (closed["state"], closed["open"]) == ("closed", False)
    snoozed = ok(manage(api, cid, message_type="snoozed", snoozed_until=4102444800))
    assert (snoozed["state"], snoozed["open"], snoozed["snoozed_until"]) == (
        "snoozed",
        True,
        4102444800,
    )
    opened = ok(manage(api, cid, message_type="open"))
    assert (opened["state"], opened["snoozed_until"]) == ("open", None)
    assigned = ok(
        manage(api, cid, message_type="assignment", type="team", assignee_id=SUPPORT_TEAM)
    )
    assert assigned["team_assignee_id"] == int(SUPPORT_TEAM)

    latest = assigned["conversation_parts"]["conversation_parts"]
    assert part_types(assigned) == ["close", "snoozed", "open", "assignment"]
    assert [part["state"] for part in latest] == ["closed", "snoozed", "open", "open"]
    assert {part["author"]["id"] for part in latest} == {ADMIN}
    assert latest[0]["body"] == "<p>Solved</p>"
    assert latest[3]["assigned_to"] == {"type": "team", "id": SUPPORT_TEAM}
    assert assigned["teammates"]["teammates"] == [{"type": "admin", "id": ADMIN}]


def test_assigning_a_closed_conversation_reopens_it_and_unassigning_names_nobody(
    api: httpx.Client,
) -> None:
    cid = start(api, contact(api))["id"]
    ok(manage(api, cid, message_type="close", type="admin"))
    assigned = ok(manage(api, cid, message_type="assignment", type="admin", assignee_id=SAM))
    assert (assigned["state"], assigned["admin_assignee_id"]) == ("open", int(SAM))
    nobody = ok(manage(api, cid, message_type="assignment", type="admin", assignee_id="0"))
    parts = nobody["conversation_parts"]["conversation_parts"]
    assert part_types(nobody)[-2:] == ["assign_and_reopen", "assignment"]
    assert nobody["admin_assignee_id"] == 0
    assert parts[-1]["assigned_to"] == {"type": "nobody_admin", "id": None}


def test_a_contact_reply_reopens_and_an_admin_reply_ends_the_wait(api: httpx.Client) -> None:
    who = contact(api)
    conversation = start(api, who)
    cid = conversation["id"]
    assert conversation["waiting_since"] == conversation["created_at"]
    admin_reply = {"message_type": "comment", "type": "admin", "admin_id": SAM, "body": "Hi"}
    replied = ok(api.post(f"/conversations/{cid}/reply", json=admin_reply))
    assert replied["waiting_since"] is None
    ok(manage(api, cid, message_type="close", type="admin"))

    back = {"message_type": "comment", "type": "user", "email": who["email"], "body": "Again"}
    reopened = ok(api.post("/conversations/last/reply", json=back))
    assert reopened["id"] == cid  # `last`: the contact's latest conversation
    assert (reopened["state"], reopened["read"]) == ("open", False)
    assert reopened["waiting_since"] is not None
    assert part_types(reopened) == ["comment", "close", "open"]
    assert reopened["conversation_parts"]["conversation_parts"][-1]["author"]["id"] == who["id"]


def test_a_snoozed_conversation_opens_when_its_time_comes(api: httpx.Client) -> None:
    cid = start(api, contact(api))["id"]
    soon = int(time.time()) - 1
    ok(manage(api, cid, message_type="snoozed", snoozed_until=soon))
    woken = ok(api.get(f"/conversations/{cid}"))
    assert (woken["state"], woken["snoozed_until"]) == ("open", None)
    assert part_types(woken) == ["snoozed", "timer_unsnooze"]


@pytest.mark.parametrize(
    ("part", "status", "code"),
    [
        ({"message_type": "assignment", "type": "admin", "assignee_id": UNKNOWN}, 404,
         "assignee_not_found"),
        ({"message_type": "assignment", "type": "team", "assignee_id": UNKNOWN}, 404,
         "assignee_not_found"),
        ({"message_type": "close", "type": "admin", "admin_id": UNKNOWN}, 404, "admin_not_found"),
        ({"message_type": "close", "type": "admin", "admin_id": None}, 400, "parameter_not_found"),
        ({"message_type": "snoozed"}, 400, "parameter_invalid"),
        ({"message_type": "archive"}, 400, "parameter_invalid"),
    ],
)  # fmt: skip
def test_what_parts_refuses(
    api: httpx.Client, part: dict[str, Any], status: int, code: str
) -> None:
    conversation = start(api, contact(api))
    refused(manage(api, conversation["id"], **part), status, code)
    assert part_types(ok(api.get(f"/conversations/{conversation['id']}"))) == []


def test_an_unknown_conversation_is_not_found(api: httpx.Client) -> None:
    assert refused(api.get("/conversations/4242"), 404, "not_found") == "Resource Not Found"


@pytest.mark.parametrize(
    ("reply", "path", "status", "code"),
    [
        ({"message_type": "comment", "type": "admin", "admin_id": ADMIN, "body": "Hi"}, "last",
         400, "parameter_invalid"),
        ({"message_type": "note", "type": "user", "email": "x@example.com", "body": "Hi"}, None,
         400, "parameter_invalid"),
        ({"message_type": "comment", "type": "user", "body": "Hi"}, None, 400,
         "parameter_invalid"),
        ({"message_type": "comment", "type": "user", "email": "nobody@example.com",
          "body": "Hi"}, None, 404, "not_found"),
        ({"message_type": "comment", "type": "admin", "admin_id": ADMIN}, None, 400,
         "parameter_not_found"),
    ],
)  # fmt: skip
def test_what_a_reply_refuses(
    api: httpx.Client, reply: dict[str, Any], path: str | None, status: int, code: str
) -> None:
    cid = start(api, contact(api))["id"]
    refused(api.post(f"/conversations/{path or cid}/reply", json=reply), status, code)


def test_get_conversation_gives_the_500_latest_parts_and_plain_text(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    cid = start(api, contact(api), "<p>Hello <b>there</b> &amp; welcome</p>")["id"]
    with sandbox.store.transaction() as db:
        (body,) = db.execute("SELECT body FROM conversations WHERE id = ?", (cid,)).fetchone()
        stored = json.loads(body)
        notes = [
            {"type": "conversation_part", "id": str(n), "part_type": "note", "body": f"<p>{n}</p>",
             "created_at": 1, "updated_at": 1, "notified_at": 1, "author": {"type": "admin",
             "id": ADMIN}, "attachments": [], "redacted": False, "state": "open"}
            for n in range(1, 506)
        ]  # fmt: skip
        stored["conversation_parts"]["conversation_parts"] = notes
        db.execute("UPDATE conversations SET body = ? WHERE id = ?", (json.dumps(stored), cid))
    shown = ok(api.get(f"/conversations/{cid}", params={"display_as": "plaintext"}))
    parts = shown["conversation_parts"]
    assert parts["total_count"] == len(parts["conversation_parts"]) == 500
    assert [parts["conversation_parts"][i]["body"] for i in (0, -1)] == ["6", "505"]
    assert shown["source"]["body"] == "Hello there & welcome"
    assert ok(api.get(f"/conversations/{cid}"))["source"]["body"].startswith("<p>Hello <b>")


def test_a_conversation_is_started_by_a_contact_of_the_role_named(api: httpx.Client) -> None:
    lead = contact(api, "lead")
    wrong = {"from": {"type": "user", "id": lead["id"]}, "body": "Hi"}
    assert refused(api.post("/conversations", json=wrong), 404, "not_found") == "User Not Found"
    anyone = {"from": {"type": "contact", "id": lead["id"]}, "body": "Hi"}
    message = ok(api.post("/conversations", json=anyone))
    assert (message["type"], message["message_type"]) == ("user_message", "inapp")
    shown = ok(api.get(f"/conversations/{message['conversation_id']}"))
    assert shown["source"]["author"] == {
        "type": "lead",
        "id": lead["id"],
        "name": lead["name"],
        "email": lead["email"],
    }
    too_many = {**anyone, "attachment_urls": ["https://example.com/a.png"] * 11}
    refused(api.post("/conversations", json=too_many), 400, "parameter_invalid")


def test_tags_on_a_conversation(api: httpx.Client) -> None:
    cid = start(api, contact(api))["id"]
    tag = ok(api.post("/tags", json={"name": "Escalated"}))
    attach = {"id": tag["id"], "admin_id": SAM}
    first = ok(api.post(f"/conversations/{cid}/tags", json=attach))
    again = ok(api.post(f"/conversations/{cid}/tags", json=attach))
    assert first == again and first["applied_by"] == {"type": "admin", "id": SAM}
    ok(api.post("/tags", json={"id": tag["id"], "name": "Escalated twice"}))
    tags = ok(api.get(f"/conversations/{cid}"))["tags"]["tags"]
    assert [t["name"] for t in tags] == ["Escalated twice"]
    detach = api.request("DELETE", f"/conversations/{cid}/tags/{tag['id']}", json={"admin_id": SAM})
    assert ok(detach)["id"] == tag["id"]
    refused(
        api.request("DELETE", f"/conversations/{cid}/tags/{tag['id']}", json={"admin_id": SAM}),
        404,
        "tag_not_found",
    )
    refused(api.post(f"/conversations/{cid}/tags", json={"id": "999", "admin_id": SAM}), 404,
            "tag_not_found")  # fmt: skip
    refused(api.post(f"/conversations/{cid}/tags", json={"id": tag["id"]}), 400,
            "parameter_not_found")  # fmt: skip


def test_an_update_records_each_attribute_it_sets(api: httpx.Client) -> None:
    cid = start(api, contact(api))["id"]
    change = {"read": True, "title": "Billing", "custom_attributes": {"issue_type": "Refund"}}
    updated = ok(api.put(f"/conversations/{cid}", json=change))
    assert (updated["read"], updated["title"], updated["custom_attributes"]) == (
        True,
        "Billing",
        {"issue_type": "Refund"},
    )
    (part,) = updated["conversation_parts"]["conversation_parts"]
    assert part["part_type"] == "conversation_attribute_updated_by_admin"
    assert part["event_details"] == {
        "attribute": {"name": "issue_type"},
        "value": {"name": "Refund"},
    }
    bad = {"custom_attributes": {"vip": True}}
    refused(api.put(f"/conversations/{cid}", json=bad), 400, "parameter_invalid")


# -- search ---------------------------------------------------------------------------------


def test_conversations_are_searched_with_the_contacts_language(api: httpx.Client) -> None:
    who = contact(api)
    mine = start(api, who, "The invoice export is broken")["id"]
    ok(manage(api, mine, message_type="assignment", type="admin", assignee_id=SAM))
    found = search(api, "/conversations/search", {"operator": "AND", "value": [
        {"field": "contact_ids", "operator": "=", "value": who["id"]},
        {"field": "state", "operator": "=", "value": "open"},
        {"field": "admin_assignee_id", "operator": "=", "value": int(SAM)},
    ]})  # fmt: skip
    assert [c["id"] for c in found["conversations"]] == [mine]
    assert "conversation_parts" not in found["conversations"][0]
    words = search(api, "/conversations/search", {"field": "source.body", "operator": "=",
                                                  "value": "export"})  # fmt: skip
    assert mine in {c["id"] for c in words["conversations"]}
    phrase = search(api, "/conversations/search", {"field": "source.body", "operator": "=",
                                                   "value": "export is"})  # fmt: skip
    assert mine not in {c["id"] for c in phrase["conversations"]}
    nested = {
        "operator": "AND",
        "value": [
            {
                "operator": "OR",
                "value": [
                    {
                        "operator": "AND",
                        "value": [{"field": "open", "operator": "=", "value": True}],
                    }
                ],
            }
        ],
    }
    message = refused(api.post("/conversations/search", json={"query": nested}), 400,
                      "parameter_invalid")  # fmt: skip
    assert "2 levels" in message
    unknown = {"query": {"field": "role", "operator": "=", "value": "user"}}
    message = refused(api.post("/conversations/search", json=unknown), 400, "parameter_invalid")
    assert message == "'role' is not a searchable conversation field"


def test_conversations_page_by_cursor_without_losing_or_repeating(api: httpx.Client) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"per_page": 3}
    for _ in range(10):
        page = ok(api.get("/conversations", params=params))
        seen += [c["id"] for c in page["conversations"]]
        following = page["pages"].get("next")
        if not following:
            break
        params["starting_after"] = following["starting_after"]
    assert len(seen) == len(set(seen)) == page["total_count"] >= 10


# -- conversion and tickets ------------------------------------------------------------------


def test_a_conversation_becomes_a_ticket_once(sandbox: Sandbox, api: httpx.Client) -> None:
    who = contact(api)
    cid = start(api, who, "Bulk import fails")["id"]
    ticket = ok(api.post(f"/conversations/{cid}/convert", json={"ticket_type_id": "1"}))
    assert ticket["ticket_attributes"] == {"_default_title_": "Bulk import fails"}
    assert ticket["contacts"]["contacts"][0]["id"] == who["id"]
    (first,) = ticket["ticket_parts"]["ticket_parts"]
    assert (first["part_type"], first["body"]) == ("comment", "<p>Bulk import fails</p>")
    assert ticket["linked_objects"]["data"] == [
        {"type": "conversation", "id": cid, "category": None}
    ]
    linked = ok(api.get(f"/conversations/{cid}"))["linked_objects"]["data"]
    assert linked == [{"type": "ticket", "id": ticket["id"], "category": "Customer"}]
    again = api.post(f"/conversations/{cid}/convert", json={"ticket_type_id": "1"})
    refused(again, 400, "parameter_invalid")

    with sandbox.store.transaction() as db:
        (body,) = db.execute("SELECT body FROM ticket_types WHERE id = '2'").fetchone()
        db.execute(
            "UPDATE ticket_types SET body = ? WHERE id = '2'",
            (json.dumps({**json.loads(body), "category": "Back-office"}),),
        )
    other = start(api, who)["id"]
    message = refused(api.post(f"/conversations/{other}/convert", json={"ticket_type_id": "2"}),
                      400, "parameter_invalid")  # fmt: skip
    assert message == "Ticket type is not a customer ticket type"


def test_a_ticket_moves_between_states_and_assignees_each_a_part(api: httpx.Client) -> None:
    cid = start(api, contact(api))["id"]
    ticket = ok(api.post(f"/conversations/{cid}/convert", json={"ticket_type_id": "1"}))
    tid = ticket["id"]
    assert ticket["ticket_state"]["category"] == "submitted"
    moved = ok(api.put(f"/tickets/{tid}", json={"ticket_state_id": "2", "admin_id": int(SAM),
                                               "assignee_id": SUPPORT_TEAM}))  # fmt: skip
    assert moved["ticket_state"]["internal_label"] == "In progress"
    assert moved["previous_ticket_state_id"] == ticket["ticket_state"]["id"]
    assert moved["team_assignee_id"] == int(SUPPORT_TEAM)
    state_part, assignment = moved["ticket_parts"]["ticket_parts"][1:]
    assert (state_part["part_type"], state_part["previous_ticket_state"],
            state_part["ticket_state"]) == ("ticket_state_updated_by_admin", "submitted",
                                            "in_progress")  # fmt: skip
    assert assignment["assigned_to"] == {"type": "team", "id": SUPPORT_TEAM}
    assert state_part["author"]["id"] == SAM
    closed = ok(api.put(f"/tickets/{tid}", json={"open": False, "snoozed_until": 4102444800}))
    assert (closed["open"], closed["snoozed_until"]) == (False, 0)

    refused(api.put(f"/tickets/{tid}", json={"ticket_state_id": "99"}), 400,
            "ticket_state_id_invalid")  # fmt: skip
    refused(api.put(f"/tickets/{tid}", json={"admin_id": int(SAM), "assignee_id": UNKNOWN}), 404,
            "assignee_not_found")  # fmt: skip
    refused(api.put(f"/tickets/{tid}", json={"assignee_id": SAM}), 400, "parameter_not_found")
    refused(api.put(f"/tickets/{tid}", json={"admin_id": 4, "open": True}), 404,
            "admin_not_found")  # fmt: skip


def test_ticket_replies_searches_and_deletion(sandbox: Sandbox, api: httpx.Client) -> None:
    who = contact(api)
    cid = start(api, who, "Dark mode please")["id"]
    tid = ok(api.post(f"/conversations/{cid}/convert", json={"ticket_type_id": "2"}))["id"]
    note = {"message_type": "note", "type": "admin", "admin_id": SAM, "body": "Roadmap Q3"}
    part = ok(api.post(f"/tickets/{tid}/reply", json=note))
    assert (part["type"], part["part_type"], part["author"]["id"]) == ("ticket_part", "note", SAM)
    thanks = {"message_type": "comment", "type": "user", "intercom_user_id": who["id"],
              "body": "Thanks"}  # fmt: skip
    assert ok(api.post(f"/tickets/{tid}/reply", json=thanks))["author"]["type"] == who["role"]

    query = {"operator": "AND", "value": [
        {"field": "category", "operator": "=", "value": "request"},
        {"field": "contact_ids", "operator": "=", "value": who["id"]},
        {"field": "teammate_ids", "operator": "=", "value": SAM},
        {"field": "title", "operator": "~", "value": "dark"},
    ]}  # fmt: skip
    assert [t["id"] for t in search(api, "/tickets/search", query)["tickets"]] == [tid]

    with sandbox.store.transaction() as db:
        (body,) = db.execute("SELECT body FROM tickets WHERE id = ?", (tid,)).fetchone()
        db.execute(
            "UPDATE tickets SET body = ? WHERE id = ?",
            (json.dumps({**json.loads(body), "category": "Back-office"}), tid),
        )
    message = refused(api.post(f"/tickets/{tid}/reply", json=thanks), 400, "parameter_mismatch")
    assert message == "User replies are not allowed on Backoffice tickets"

    deleted = ok(api.delete(f"/tickets/{tid}"))
    assert deleted == {"id": tid, "object": "ticket", "deleted": True}
    refused(api.get(f"/tickets/{tid}"), 404, "ticket_not_found")
    refused(api.delete(f"/tickets/{tid}"), 404, "ticket_not_found")


# -- the demo inbox ---------------------------------------------------------------------------


def test_the_demo_workspace_has_a_support_inbox(api: httpx.Client) -> None:
    listed = ok(api.get("/conversations", params={"per_page": 150}))["conversations"]
    assert {c["state"] for c in listed} == {"open", "closed", "snoozed"}
    assert {c["team_assignee_id"] for c in listed} > {0}
    vip = search(api, "/contacts/search", {"field": "tag_id", "operator": "=", "value": "1"})
    latest_vip = vip["data"][0]["id"]
    of_vip = search(api, "/conversations/search", {"operator": "AND", "value": [
        {"field": "contact_ids", "operator": "=", "value": latest_vip},
        {"field": "state", "operator": "=", "value": "open"}]})  # fmt: skip
    assert of_vip["total_count"] == 2
    tickets = search(api, "/tickets/search", {"field": "open", "operator": "=", "value": True})
    assert {t["ticket_state"]["category"] for t in tickets["tickets"]} == {
        "submitted",
        "in_progress",
    }


def test_a_sandbox_from_before_conversations_gains_the_inbox(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    with sandbox.store.transaction() as db:
        db.execute("DELETE FROM conversations")
        db.execute("UPDATE meta SET value = '4' WHERE key = 'version'")
    sandbox.close()
    reopened = Sandbox(tmp_path)
    with reopened.store.transaction() as db:
        assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 10
    reopened.close()
