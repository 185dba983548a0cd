"""Triggers as a host meets them: the manifest's contract, a webhook delivery verified before
anything else, and the polling engine's rules (window, cursor, seen set, state on errors)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import REPO, TOKEN, Recorder, body_of

import intercom_connector
from intercom_connector import Connector, ReplayGuard, receive_webhook
from intercom_connector.runtime import triggers
from intercom_connector.runtime.client import RetryPolicy
from intercom_connector.runtime.errors import (
    ConnectionConfigError,
    InputValidationError,
    ManifestError,
    RateLimitError,
    WebhookRefusal,
)
from intercom_connector.runtime.manifest import load_manifest, parse_manifest

MANIFEST = load_manifest()
TEXT = (REPO / "connector.yaml").read_text(encoding="utf-8")
SECRET = "whsec-canary-5e1f0c"
WEBHOOK = "intercom_webhook"
TOPICS = {"topics": ["contact.user.created", "conversation.admin.replied"]}
NOW = 1_718_000_000  # 2024-06-10T06:13:20Z


# -- the manifest's contract --------------------------------------------------------------


@pytest.mark.parametrize("trigger", MANIFEST.triggers.values(), ids=lambda t: t.key)
def test_every_trigger_exports_its_event_schema(trigger: Any) -> None:
    schema = triggers.event_schema(MANIFEST.output_schema(trigger.output))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["id", "topic", "occurred_at", "data"]
    assert schema["properties"]["data"]["type"] == "object"
    assert trigger.label and trigger.description
    for spec in trigger.value_inputs:
        assert spec.label and spec.comments, (trigger.key, spec.key)


def mutated(old: str, new: str) -> str:
    assert old in TEXT, old
    return TEXT.replace(old, new, 1)


POLL_BLOCK = """    poll:
      request: {method: POST, path: /contacts/search}
      paging: {style: search}
      field: updated_at
      topic: contact
      sorted: true
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            lambda: mutated(POLL_BLOCK, ""),
            r"at triggers.new_or_updated_contacts: 'poll' is a required property",
        ),
        (
            lambda: mutated(
                "    kind: webhook\n    output: intercom_object\n",
                "    kind: webhook\n    output: intercom_object\n" + POLL_BLOCK,
            ),
            r"at triggers.intercom_webhook: .* should not be valid",
        ),
        (
            lambda: mutated("    kind: webhook\n", "    kind: cron\n"),
            r"'cron' is not one of \['webhook', 'polling'\]",
        ),
        (
            lambda: mutated(
                "      query: {ticket_type_id: ticket_type_id}",
                "      query: {ticket_type_id: ticket_type}",
            ),
            r"new_or_updated_tickets.poll.query: names unknown inputs \['ticket_type'\]",
        ),
        (
            lambda: mutated(
                "      sorted: true\n    inputs:\n      connection: {}\n      start: {}\n",
                "      sorted: true\n    inputs:\n      connection: {}\n",
            ),
            r"new_or_updated_contacts: a polling trigger needs the inputs \['start'\]",
        ),
        (
            lambda: mutated(
                "      field: updated_at\n      topic: company\n",
                "      field: updated_at\n      topic: company\n      sorted: true\n",
            ),
            r"new_or_updated_companies.poll: query and sorted need a search",
        ),
        (
            lambda: mutated("    output: intercom_object\n", "    output: notification\n"),
            r"intercom_webhook.output: no schema schemas/objects/notification.json",
        ),
    ],
    ids=[
        "no-poll",
        "webhook-poll",
        "kind",
        "query-input",
        "poll-inputs",
        "sorted-scroll",
        "output",
    ],
)
def test_the_trigger_contract_is_strict(text: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(text())


def test_a_topic_not_intercoms_is_refused_by_label() -> None:
    with pytest.raises(InputValidationError) as excinfo:
        receive_webhook(WEBHOOK, {}, b"{}", {"topics": ["contact.made"], "client_secret": "x"})
    label = MANIFEST.trigger(WEBHOOK).input("topics").label
    assert f"{label} (topics): at 0: must be one of contact.user.created," in str(excinfo.value)


# -- webhook deliveries -----------------------------------------------------------------


def notification(topic: str = "contact.user.created", **extra: Any) -> dict[str, Any]:
    return {
        "type": "notification_event",
        "app_id": "ws1",
        "data": {"type": "notification_event_data", "item": {"type": "contact", "id": "c1"}},
        "links": {},
        "id": "notif_9f3c",
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": NOW,
        "created_at": NOW,
        "self": None,
        **extra,
    }


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={digest}", "Content-Type": "application/json"}


def deliver(
    body: bytes, headers: dict[str, str], inputs: dict[str, Any] | None = None, **options: Any
) -> Any:
    given = {**TOPICS, "client_secret": SECRET, **(inputs or {})}
    return receive_webhook(WEBHOOK, headers, body, given, **options)


def test_a_valid_delivery_gives_its_event() -> None:
    body = json.dumps(notification()).encode()
    delivery = deliver(body, signed(body))
    assert delivery.events == [
        {
            "id": "notif_9f3c",
            "topic": "contact.user.created",
            "occurred_at": NOW,
            "data": {"type": "contact", "id": "c1"},
        }
    ]
    jsonschema.validate(
        delivery.events[0], triggers.event_schema(MANIFEST.output_schema("intercom_object"))
    )


def test_header_names_are_matched_whatever_their_case() -> None:
    body = json.dumps(notification()).encode()
    headers = {"x-hub-signature": signed(body)["X-Hub-Signature"].upper().replace("SHA1=", "sha1=")}
    assert len(deliver(body, headers).events) == 1


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json"}, json.dumps(notification()).encode()),
        ({"X-Hub-Signature": "sha256=" + "0" * 64}, json.dumps(notification()).encode()),
        (signed(b"{}", secret="another-apps-secret"), b"{}"),
    ],
    ids=["missing", "not-sha1", "wrong-secret"],
)
def test_an_unsigned_or_wrongly_signed_delivery_is_refused_401(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(WebhookRefusal) as excinfo:
        deliver(body, headers)
    assert excinfo.value.status == 401 and excinfo.value.exit_code == 2
    assert SECRET not in str(excinfo.value) + repr(excinfo.value)


def test_a_body_altered_after_signing_is_refused_401() -> None:
    original = json.dumps(notification()).encode()
    headers = signed(original)
    altered = original.replace(b'"id": "c1"', b'"id": "c2"')
    assert altered != original
    with pytest.raises(WebhookRefusal) as excinfo:
        deliver(altered, headers)
    assert excinfo.value.status == 401 and "does not match the body" in str(excinfo.value)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"  \n\t"])
def test_the_signature_covers_the_body_as_sent_byte_for_byte(ending: bytes) -> None:
    """Intercom signs the bytes it sends, a trailing line break included: the signature is
    checked over the raw body, never a stripped or re-encoded one."""
    sent = json.dumps(notification()).encode() + ending
    assert len(deliver(sent, signed(sent)).events) == 1
    stripped = sent.strip()
    with pytest.raises(WebhookRefusal) as refused:
        deliver(sent, signed(stripped))  # signed without the ending it was sent with
    assert refused.value.status == 401
    with pytest.raises(WebhookRefusal) as padded:
        deliver(stripped + ending, signed(stripped))  # spaces or a line added after signing
    assert padded.value.status == 401


@pytest.mark.parametrize(
    "topic", ["contact.user", "contact.user.created.v2", "contact.user.createdx", "contact"]
)
def test_a_topic_is_accepted_only_when_it_is_one_asked_for_exactly(topic: str) -> None:
    # TOPICS asks for contact.user.created: a topic that starts like it, or that it starts
    # with, is another topic
    body = json.dumps(notification(topic)).encode()
    dropped = deliver(body, signed(body))
    assert dropped.events == [] and f"topic {topic} is not accepted" in dropped.note
    exact = json.dumps(notification("contact.user.created")).encode()
    assert len(deliver(exact, signed(exact)).events) == 1


def test_the_signature_is_checked_before_the_body_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []
    loads = triggers.orjson.loads
    monkeypatch.setattr(triggers.orjson, "loads", lambda raw: parsed.append(raw) or loads(raw))
    with pytest.raises(WebhookRefusal) as excinfo:
        deliver(b"not json at all", {"X-Hub-Signature": "sha1=" + "0" * 40})
    assert excinfo.value.status == 401 and parsed == []


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(triggers.hmac, "compare_digest", compare_digest)
    body = json.dumps(notification()).encode()
    good = signed(body)
    deliver(body, good)
    with pytest.raises(WebhookRefusal):
        deliver(body, {"X-Hub-Signature": "sha1=" + "a" * 40})
    expected = good["X-Hub-Signature"].removeprefix("sha1=").encode()
    assert compared == [(expected, expected), (expected, b"a" * 40)]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", json.dumps({"type": "notification_event", "topic": "x"}).encode(),
     json.dumps(notification(created_at="yesterday")).encode()],
    ids=["not-json", "not-object", "no-item", "bad-created-at"],
)  # fmt: skip
def test_a_signed_body_that_is_not_a_notification_is_refused_400(body: bytes) -> None:
    with pytest.raises(WebhookRefusal) as excinfo:
        deliver(body, signed(body))
    assert excinfo.value.status == 400


def test_a_replayed_notification_is_dropped() -> None:
    body = json.dumps(notification()).encode()
    seen = ReplayGuard()
    assert len(deliver(body, signed(body), seen=seen).events) == 1
    again = deliver(body, signed(body), seen=seen)
    assert again.events == [] and "already received" in again.note
    other = json.dumps(notification(id="notif_other")).encode()
    assert len(deliver(other, signed(other), seen=seen).events) == 1


def test_the_replay_guard_is_bounded() -> None:
    seen = ReplayGuard(size=2)
    for notification_id in ("a", "b", "c"):
        seen.add(notification_id)
    assert "a" not in seen and "b" in seen and "c" in seen


def test_a_ping_is_answered_with_no_event() -> None:
    body = json.dumps(
        notification("ping", data={"item": {"type": "ping", "message": "hi"}})
    ).encode()
    delivery = deliver(body, signed(body))
    assert (delivery.events, delivery.note) == ([], "ping answered")


def test_other_topics_and_workspaces_are_dropped() -> None:
    body = json.dumps(notification("company.created")).encode()
    assert deliver(body, signed(body)).events == []
    mine = json.dumps(notification()).encode()
    assert deliver(mine, signed(mine), {"app_id": "ws1"}).events
    dropped = deliver(mine, signed(mine), {"app_id": "ws2"})
    assert dropped.events == [] and "other than ws2" in dropped.note


def test_the_oauth_connections_client_secret_verifies_when_no_input_gives_one() -> None:
    body = json.dumps(notification()).encode()
    oauth = {"type": "oauth2", "client_id": "app", "client_secret": SECRET, "access_token": TOKEN}
    assert receive_webhook(WEBHOOK, signed(body), body, TOPICS, oauth).events
    with pytest.raises(ConnectionConfigError) as excinfo:
        receive_webhook(WEBHOOK, signed(body), body, TOPICS, {"access_token": TOKEN})
    label = MANIFEST.trigger(WEBHOOK).input("client_secret").label
    assert excinfo.value.exit_code == 3 and f"give it as {label}" in str(excinfo.value)


def test_a_polling_trigger_is_not_a_webhook_and_the_other_way_round() -> None:
    with pytest.raises(InputValidationError, match="is a polling trigger, not a webhook one"):
        receive_webhook("new_or_updated_contacts", {}, b"", {})
    with pytest.raises(InputValidationError, match="the triggers are: intercom_webhook,"):
        intercom_connector.poll("no_such_trigger", {"access_token": TOKEN}, {}, None)


# -- the polling engine ----------------------------------------------------------------------


def contact(record_id: str, updated_at: int, created_at: int | None = None) -> dict[str, Any]:
    return {"type": "contact", "id": record_id, "created_at": created_at or updated_at - 3 * 86400,
            "updated_at": updated_at}  # fmt: skip


def search_page(records: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    pages: dict[str, Any] = {"type": "pages", "per_page": 150}
    if cursor:
        pages["next"] = {"per_page": 150, "starting_after": cursor}
    return {"type": "list", "data": records, "total_count": len(records), "pages": pages}


@pytest.fixture
def polling(recorder: Recorder) -> Connector:
    once = RetryPolicy(max_attempts=1)
    connection = {"type": "access_token", "access_token": TOKEN}
    return Connector(connection, transport=httpx.MockTransport(recorder), retry=once)


def state(cursor: int, *seen: tuple[str, int]) -> dict[str, Any]:
    pairs = [[record_id, stamp] for record_id, stamp in seen]
    return {"trigger": "new_or_updated_contacts", "cursor": cursor, "seen": pairs}


def test_a_check_gives_exactly_the_changes_from_the_cursor_less_the_lag(
    polling: Connector, recorder: Recorder
) -> None:
    lag = 600
    cursor = NOW
    answer = [
        contact("late", NOW + 30),
        contact("same-second-b", NOW),
        contact("given-already", NOW),
        contact("same-second-a", NOW),
        contact("lagging", NOW - lag),
        contact("too-old", NOW - lag - 1),  # same day, but before the window: Intercom's `>`
    ]
    recorder.on("POST", "/contacts/search", search_page(answer))
    events, kept = polling.poll(
        "new_or_updated_contacts", {"index_lag": lag}, state(cursor, ("given-already", NOW))
    )
    assert [e["data"]["id"] for e in events] == [
        "lagging",
        "same-second-a",
        "same-second-b",
        "late",
    ]
    assert [e["occurred_at"] for e in events] == [NOW - lag, NOW, NOW, NOW + 30]
    assert events[0]["id"] == f"contact:lagging:{NOW - lag}"
    assert {e["topic"] for e in events} == {"contact.updated"}
    # the cursor is the newest change given, the seen set what lies within the lag of it
    assert kept == state(NOW + 30, ("given-already", NOW), ("same-second-a", NOW),
                         ("same-second-b", NOW), ("late", NOW + 30))  # fmt: skip
    body = body_of(recorder.last)
    assert body["sort"] == {"field": "updated_at", "order": "descending"}
    assert body["pagination"]["per_page"] == 150


def test_a_new_record_is_created_and_a_known_one_updated(
    polling: Connector, recorder: Recorder
) -> None:
    answer = [contact("new", NOW + 5, created_at=NOW + 1), contact("old", NOW + 6)]
    recorder.on("POST", "/contacts/search", search_page(answer))
    events, _ = polling.poll("new_or_updated_contacts", {}, state(NOW))
    assert [(e["data"]["id"], e["topic"]) for e in events] == [
        ("new", "contact.created"),
        ("old", "contact.updated"),
    ]


ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York", "Australia/Lord_Howe",
         "Europe/London", "Asia/Kathmandu"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@example(since=1730694600, zone="America/New_York")  # 23:30 on a 25-hour day (DST ends)
@example(since=1712496000, zone="Australia/Lord_Howe")  # 23:50 on a 24.5-hour day
@given(
    since=st.integers(min_value=1_600_000_000, max_value=1_900_000_000),
    zone=st.sampled_from(ZONES),
)
def test_the_query_covers_the_whole_day_of_the_window_in_any_timezone(
    since: int, zone: str
) -> None:
    """Intercom's `>` on a date matches from the day after the value's day (in the
    workspace's timezone): that day must come no later than the window's own day."""
    spec = MANIFEST.trigger("new_or_updated_contacts").poll
    assert spec is not None
    clause = triggers._search_query(spec, {}, since)["query"]
    tz = ZoneInfo(zone)
    value_day = datetime.fromtimestamp(clause["value"], tz).date()
    assert value_day < datetime.fromtimestamp(since, tz).date()
    assert (clause["field"], clause["operator"]) == ("updated_at", ">")


def test_a_sorted_search_stops_at_the_page_reaching_past_the_window(
    polling: Connector, recorder: Recorder
) -> None:
    pages = {
        None: search_page([contact("a", NOW + 9), contact("b", NOW + 8)], "p2"),
        "p2": search_page([contact("c", NOW + 1), contact("d", NOW - 700)], "p3"),
        "p3": search_page([contact("e", NOW - 800)]),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = (body_of(request).get("pagination") or {}).get("starting_after")
        return httpx.Response(200, json=pages[cursor])

    recorder.respond("POST", "/contacts/search", answer)
    events, _ = polling.poll("new_or_updated_contacts", {}, state(NOW))
    assert [e["data"]["id"] for e in events] == ["c", "b", "a"]
    assert len(recorder.requests) == 2  # the third page holds only older changes


def test_a_429_mid_poll_raises_and_gives_no_state(polling: Connector, recorder: Recorder) -> None:
    first = search_page([contact("a", NOW + 9)], "p2")
    limited = {"type": "error.list", "errors": [{"code": "rate_limit_exceeded", "message": "slow"}]}

    def answer(request: httpx.Request) -> httpx.Response:
        if (body_of(request).get("pagination") or {}).get("starting_after"):
            return httpx.Response(429, json=limited, headers={"Retry-After": "1"})
        return httpx.Response(200, json=first)

    recorder.respond("POST", "/contacts/search", answer)
    kept = state(NOW, ("x", NOW))
    with pytest.raises(RateLimitError) as excinfo:
        polling.poll("new_or_updated_contacts", {}, kept)
    assert excinfo.value.exit_code == 5
    assert kept == state(NOW, ("x", NOW))  # the caller's state is never changed in place


@pytest.mark.parametrize(
    ("kept", "problem"),
    [
        (
            {"trigger": "new_or_updated_companies", "cursor": NOW},
            "was written by 'new_or_updated_companies'",
        ),
        ({"trigger": "new_or_updated_contacts"}, "has no cursor"),
        ({"trigger": "new_or_updated_contacts", "cursor": NOW, "seen": [["a"]]}, "seen list"),
        ([1, 2], "must be the JSON object an earlier poll gave"),
    ],
    ids=["other-trigger", "no-cursor", "bad-seen", "not-object"],
)
def test_a_state_that_is_not_this_triggers_is_refused(
    polling: Connector, recorder: Recorder, kept: Any, problem: str
) -> None:
    with pytest.raises(InputValidationError, match=problem):
        polling.poll("new_or_updated_contacts", {}, kept)
    assert recorder.requests == []


def test_a_first_check_from_now_gives_nothing_and_remembers_where_things_stand(
    polling: Connector, recorder: Recorder
) -> None:
    answer = [contact("a", NOW - 100), contact("b", NOW - 5000)]
    recorder.on("POST", "/contacts/search", search_page(answer))
    events, kept = polling.poll("new_or_updated_contacts", {"index_lag": 600}, None, now=NOW)
    assert events == [] and kept == state(NOW - 100, ("a", NOW - 100))
    # that first check looked one day back, whole days as Intercom compares
    assert body_of(recorder.last)["query"]["value"] <= NOW - 86400 - 86400


def test_a_first_check_with_backfill_gives_the_days_asked_for(
    polling: Connector, recorder: Recorder
) -> None:
    days = 3
    answer = [contact("in", NOW - days * 86400 + 10), contact("out", NOW - days * 86400 - 10)]
    recorder.on("POST", "/contacts/search", search_page(answer))
    inputs = {"start": "backfill", "backfill_days": days, "index_lag": 60}
    events, kept = polling.poll("new_or_updated_contacts", inputs, {}, now=NOW)
    assert [e["data"]["id"] for e in events] == ["in"]
    # from now on a check reads from where the backfill started, never earlier
    assert kept["cursor"] - 60 == NOW - days * 86400


def test_state_after_keeps_only_the_events_handled(polling: Connector, recorder: Recorder) -> None:
    recorder.on(
        "POST", "/contacts/search", search_page([contact("a", NOW + 1), contact("b", NOW + 2)])
    )
    polled = polling.poll("new_or_updated_contacts", {}, state(NOW))
    assert polled.state_after(0) == state(NOW)
    assert polled.state_after(1) == state(NOW + 1, ("a", NOW + 1))
    events, whole = polled
    assert whole == polled.state_after(len(events))


def test_a_change_at_exactly_the_lag_boundary_is_given_once(
    polling: Connector, recorder: Recorder
) -> None:
    lag = 600
    answer = [contact("newest", NOW), contact("edge", NOW - lag)]
    recorder.on("POST", "/contacts/search", search_page(answer))
    events, kept = polling.poll("new_or_updated_contacts", {"index_lag": lag}, state(NOW - lag))
    assert [e["data"]["id"] for e in events] == ["edge", "newest"]
    # the next check reads again from NOW - lag: the change there is remembered as given
    assert ["edge", NOW - lag] in kept["seen"]
    again, _ = polling.poll("new_or_updated_contacts", {"index_lag": lag}, kept)
    assert again == []


def test_a_sorted_search_reads_on_past_a_page_ending_exactly_at_the_window(
    polling: Connector, recorder: Recorder
) -> None:
    lag = 600
    since = NOW - lag
    pages = {
        None: search_page([contact("a", NOW + 9), contact("b", since)], "p2"),
        "p2": search_page([contact("c", since), contact("d", since - 1)], "p3"),
        "p3": search_page([contact("e", since - 800)]),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = (body_of(request).get("pagination") or {}).get("starting_after")
        return httpx.Response(200, json=pages[cursor])

    recorder.respond("POST", "/contacts/search", answer)
    events, _ = polling.poll("new_or_updated_contacts", {"index_lag": lag}, state(NOW))
    assert [e["data"]["id"] for e in events] == ["b", "c", "a"]
    assert len(recorder.requests) == 2  # the second page reaches past the window
