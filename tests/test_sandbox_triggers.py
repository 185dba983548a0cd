"""What the sandbox gives triggers to test against: a clock and workspace timezone that a test
sets, a search index that runs late, and webhook deliveries signed as Intercom signs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import REPO, HttpxOpenAPIRequest, HttpxOpenAPIResponse, LoopbackIntercom, Recorder

from intercom_connector import BusyError, Connector, ReplayGuard, receive_webhook
from intercom_connector.runtime.client import RetryPolicy
from intercom_connector.sandbox import Clock, Sandbox

NOON_PARIS = 1_718_013_600  # 2024-06-10T10:00:00Z, noon in Paris
ADMIN = "991267001"
ALL_TOPICS = {"topics": ["contact.user.created", "contact.user.updated", "contact.lead.created",
                         "company.created", "company.updated", "conversation.user.created",
                         "conversation.admin.replied", "conversation.user.replied",
                         "ticket.created", "ticket.state.updated", "contact.deleted"]}  # fmt: skip


def connector_for(sandbox: Sandbox, **options: Any) -> Connector:
    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    return Connector(connection, transport=sandbox.transport(), **options)


def raw(intercom: Connector, url: str, method: str = "GET", data: Any = None) -> Any:
    inputs: dict[str, Any] = {"url": url, "method": method}
    if data is not None:
        inputs["data"] = data
    return intercom.invoke("raw_request", inputs)["data"]["data"]


def test_changes_are_stamped_with_the_sandbox_clock() -> None:
    sandbox = Sandbox(":memory:", clock=Clock(now=NOON_PARIS, timezone="Europe/Paris"))
    with connector_for(sandbox) as intercom:
        made = intercom.invoke("create_contact", {"email": "ada@example.com"})["data"]
        sandbox.clock.advance(90)
        changed = intercom.invoke("update_contact", {"contact_id": made["id"], "name": "Ada"})
        assert (made["created_at"], made["updated_at"]) == (NOON_PARIS, NOON_PARIS)
        assert changed["data"]["updated_at"] == NOON_PARIS + 90
        assert raw(intercom, "/me")["app"]["timezone"] == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Los_Angeles"])
def test_search_compares_dates_by_day_in_the_workspace_timezone(zone: str) -> None:
    """A contact made at 23:30 UTC, searched with a moment two hours earlier: in Paris that
    moment is the day before (so `>` matches, `=` does not), in Los Angeles the same day."""
    late_evening_utc = 1_718_062_200  # 2024-06-10T23:30:00Z
    sandbox = Sandbox(":memory:", clock=Clock(now=late_evening_utc, timezone=zone), seed=False)
    earlier = late_evening_utc - 7200
    with connector_for(sandbox) as intercom:
        intercom.invoke("create_contact", {"email": "ada@example.com"})
        found = {}
        for operator in (">", "="):
            query = {"field": "updated_at", "operator": operator, "value": earlier}
            result = intercom.invoke("search_contacts", {"json_query": query})["data"]
            found[operator] = result["total_count"] == 1
    paris = zone == "Europe/Paris"
    assert found == {">": paris, "=": not paris}


def test_a_change_shows_in_a_search_only_after_the_index_lag() -> None:
    sandbox = Sandbox(":memory:", clock=Clock(now=NOON_PARIS), index_lag=120, seed=False)
    everything = {"field": "updated_at", "operator": ">", "value": 0}
    with connector_for(sandbox) as intercom:
        made = intercom.invoke("create_contact", {"email": "ada@example.com"})["data"]
        assert intercom.invoke("get_contact", {"contact_id": made["id"]})["data"]  # at once
        assert intercom.invoke("search_contacts", {"json_query": everything})["data"]["data"] == []
        sandbox.clock.advance(120)
        assert (
            len(intercom.invoke("search_contacts", {"json_query": everything})["data"]["data"]) == 1
        )
        sandbox.index_lag = 0
        sandbox.hold_from_search(made["id"], until=NOON_PARIS + 500)
        assert intercom.invoke("search_contacts", {"json_query": everything})["data"]["data"] == []
        sandbox.clock.advance(380)
        assert (
            len(intercom.invoke("search_contacts", {"json_query": everything})["data"]["data"]) == 1
        )


def test_a_reading_left_half_way_keeps_the_scroll_busy_for_a_minute() -> None:
    sandbox = Sandbox(":memory:", clock=Clock(now=NOON_PARIS))
    with connector_for(sandbox, retry=RetryPolicy(max_attempts=1)) as intercom:
        raw(intercom, "/companies/scroll")  # a first page, and no more
        with pytest.raises(BusyError) as excinfo:
            intercom.poll("new_or_updated_companies", {}, None)
        assert excinfo.value.exit_code == 5  # tried again later, not a failure to stop on
        sandbox.clock.advance(61)
        events, _ = intercom.poll("new_or_updated_companies", {"start": "backfill"}, None)
        assert events == []  # the demo companies date from 2024


# -- webhook deliveries ------------------------------------------------------------------


@pytest.fixture
def endpoint(recorder: Recorder) -> Iterator[tuple[LoopbackIntercom, list[httpx.Request]]]:
    """A loopback endpoint that answers 200 to every delivery and keeps them."""
    received: list[httpx.Request] = []

    def keep(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    recorder.respond("POST", "/hooks", keep)
    server = LoopbackIntercom(recorder)
    yield server, received
    server.close()


def test_each_change_is_delivered_signed_with_the_apps_client_secret(
    endpoint: tuple[LoopbackIntercom, list[httpx.Request]], openapi: Any
) -> None:
    server, received = endpoint
    sandbox = Sandbox(":memory:", clock=Clock(now=NOON_PARIS), webhook_url=f"{server.url}/hooks")
    with connector_for(sandbox) as intercom:
        contact = intercom.invoke("create_contact", {"email": "ada@example.com"})["data"]
        intercom.invoke("update_contact", {"contact_id": contact["id"], "name": "Ada"})
        intercom.invoke("create_company", {"company_id": "hooks", "name": "Hooks"})
        intercom.invoke("create_company", {"company_id": "hooks", "name": "Hooks Ltd"})
        started = raw(intercom, "/conversations", "POST",
                      {"from": {"type": "user", "id": contact["id"]}, "body": "Help"})  # fmt: skip
        reply = {"message_type": "comment", "type": "admin", "admin_id": ADMIN, "body": "Sure"}
        raw(intercom, f"/conversations/{started['conversation_id']}/reply", "POST", reply)
        kind = intercom.invoke("list_ticket_types", {})["data"]["data"][0]
        opened = {"ticket_type_id": kind["id"], "contact_id": contact["id"],
                  "ticket_attributes": {"default_title": "Hi"}}  # fmt: skip
        ticket = intercom.invoke("create_ticket", opened)["data"]
        moved = {"ticket_state_id": kind["ticket_states"]["data"][-1]["id"]}
        raw(intercom, f"/tickets/{ticket['id']}", "PUT", moved)
        intercom.invoke("delete_contact", {"contact_id": contact["id"]})
    deliveries = sandbox.webhook_deliveries
    assert [d.status for d in deliveries] == [200] * 9
    topics = [json.loads(r.content)["topic"] for r in received]
    assert topics == [
        "contact.user.created", "contact.user.updated", "company.created", "company.updated",
        "conversation.user.created", "conversation.admin.replied", "ticket.created",
        "ticket.state.updated", "contact.deleted",
    ]  # fmt: skip
    seen = ReplayGuard()
    for request in received:
        delivery = receive_webhook(
            "intercom_webhook", dict(request.headers), request.content,
            {**ALL_TOPICS, "client_secret": "sandbox-client-secret"}, seen=seen,
        )  # fmt: skip
        assert len(delivery.events) == 1, delivery.note
        notification = json.loads(request.content)
        assert notification["type"] == "notification_event"
        assert notification["app_id"] == raw_app_id(sandbox)
        assert notification["created_at"] == NOON_PARIS
        if notification["topic"] != "contact.deleted":
            conforms(openapi, notification["data"]["item"])


def test_every_conversation_and_ticket_change_has_its_topic(
    endpoint: tuple[LoopbackIntercom, list[httpx.Request]], openapi: Any
) -> None:
    server, received = endpoint
    sandbox = Sandbox(":memory:", clock=Clock(now=NOON_PARIS), webhook_url=f"{server.url}/hooks")
    admin = {"admin_id": ADMIN}
    with connector_for(sandbox) as intercom:
        contact = intercom.invoke("create_contact", {"email": "ada@example.com"})["data"]
        started = raw(intercom, "/conversations", "POST",
                      {"from": {"type": "user", "id": contact["id"]}, "body": "Help"})  # fmt: skip
        url = f"/conversations/{started['conversation_id']}"
        note = {"message_type": "note", "type": "admin", **admin, "body": "Looking"}
        raw(intercom, f"{url}/reply", "POST", note)
        for change in (
            {"message_type": "close"},
            {"message_type": "open"},
            {"message_type": "snoozed", "snoozed_until": NOON_PARIS + 60},
            {"message_type": "assignment", "type": "admin", "assignee_id": ADMIN},
        ):
            raw(intercom, f"{url}/parts", "POST", {**change, **admin})
        mine = {"message_type": "comment", "type": "user", "intercom_user_id": contact["id"],
                "body": "Thanks"}  # fmt: skip
        raw(intercom, f"{url}/reply", "POST", mine)
        raw(intercom, url, "PUT", {"read": True})
        kind = intercom.invoke("list_ticket_types", {})["data"]["data"][0]
        opened = {"ticket_type_id": kind["id"], "contact_id": contact["id"],
                  "ticket_attributes": {"default_title": "Hi"}}  # fmt: skip
        ticket = intercom.invoke("create_ticket", opened)["data"]
        raw(intercom, f"/tickets/{ticket['id']}", "PUT", {**admin, "assignee_id": "991268001"})
        raw(intercom, f"/tickets/{ticket['id']}/reply", "POST", note)
    assert all(d.status == 200 for d in sandbox.webhook_deliveries)  # once all are delivered
    topics = [json.loads(r.content)["topic"] for r in received]
    assert topics == [
        "contact.user.created", "conversation.user.created", "conversation.admin.noted",
        "conversation.admin.closed", "conversation.admin.opened", "conversation.admin.snoozed",
        "conversation.admin.assigned", "conversation.user.replied", "conversation.read",
        "ticket.created", "ticket.team.assigned", "ticket.note.created",
    ]  # fmt: skip
    for request in received[1:]:
        conforms(openapi, json.loads(request.content)["data"]["item"])


def raw_app_id(sandbox: Sandbox) -> str:
    with connector_for(sandbox) as intercom:
        return str(raw(intercom, "/me")["app"]["id_code"])


#: where the official description says what an object of each type looks like (an answer)
SHAPE_OF = {
    "contact": "/contacts/{}",
    "company": "/companies/{}",
    "conversation": "/conversations/{}",
    "ticket": "/tickets/{}",
}


def conforms(openapi: Any, item: dict[str, Any]) -> None:
    """``item`` is what Intercom's description says a GET of such an object answers."""
    url = f"https://api.intercom.io{SHAPE_OF[item['type']].format(item['id'])}"
    request = httpx.Request("GET", url)
    response = httpx.Response(200, json=item, headers={"Content-Type": "application/json"})
    errors = list(
        openapi.iter_response_errors(HttpxOpenAPIRequest(request), HttpxOpenAPIResponse(response))
    )
    assert not errors, f"{item['type']}: {[f'{e}: {e.__cause__}' for e in errors]}"


def test_deliveries_go_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback URL only"):
        Sandbox(":memory:", webhook_url="https://example.com/hooks")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "sandbox", "serve", "--port", "0",
         "--data-dir", ":memory:", "--webhook-url", "http://10.0.0.1/hooks"],
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )  # fmt: skip
    # plain http off loopback fails the URL rule of every secret's URL first (option check)
    assert done.returncode == 2, done.stderr
    assert "--webhook-url: 'http://10.0.0.1/hooks' is not https" in done.stderr
    assert "only for a loopback address" in done.stderr
    elsewhere = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "sandbox", "serve", "--port", "0",
         "--data-dir", ":memory:", "--webhook-url", "https://example.com/hooks"],
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert elsewhere.returncode == 2
    assert "--webhook-url: the sandbox delivers webhooks to a loopback" in elsewhere.stderr
