"""Notes, data events, data attributes, articles, messages and company tags as a flow
builder user meets them: Intercom's rules that bite, against the sandbox in-process (or a
recording transport where what must not be sent is the point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REPO, TOKEN, Recorder, body_of

from intercom_connector import Connector
from intercom_connector.runtime.client import RetryPolicy
from intercom_connector.runtime.errors import InputValidationError, IntercomAPIError
from intercom_connector.sandbox import Sandbox

ADMIN = "991267001"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(":memory:")


@pytest.fixture
def intercom(sandbox: Sandbox) -> Iterator[Connector]:
    connection = {"type": "access_token", "access_token": sandbox.token,
                  "base_url": sandbox.base_url}  # fmt: skip
    with Connector(connection, transport=sandbox.transport()) as connector:
        yield connector


def data(connector: Connector, action: str, **inputs: Any) -> Any:
    return connector.invoke(action, inputs)["data"]


def recording(recorder: Recorder) -> Connector:
    fast = RetryPolicy(backoff_base=0.0, backoff_cap=0.0)
    connection = {"type": "access_token", "access_token": TOKEN}
    return Connector(connection, transport=httpx.MockTransport(recorder), retry=fast)


def a_contact(connector: Connector, email: str = "ev@example.com", **more: Any) -> Any:
    return data(connector, "create_contact", email=email, **more)


# -- data events ------------------------------------------------------------------------


def test_a_submitted_event_is_what_was_sent_and_happened_now_by_default(
    intercom: Connector,
) -> None:
    contact = a_contact(intercom)
    before = int(time.time())
    event = data(intercom, "submit_event", event_name="ran-report", contact_id=contact["id"])
    assert before <= event["created_at"] <= int(time.time())
    assert event == {"type": "event", "event_name": "ran-report",
                     "created_at": event["created_at"], "id": contact["id"]}  # fmt: skip
    listed = data(intercom, "list_events", contact_id=contact["id"])["events"]
    assert [(e["event_name"], e["created_at"]) for e in listed] == [
        ("ran-report", event["created_at"])
    ]


def test_the_same_event_twice_is_recorded_once(intercom: Connector) -> None:
    contact = a_contact(intercom)
    for _ in range(2):
        data(intercom, "submit_event", event_name="paid", email=contact["email"],
             created_at="2026-01-05T10:00:00Z", metadata={"amount": 12})  # fmt: skip
    summary = data(intercom, "list_event_summaries", contact_id=contact["id"])["events"]
    assert [(e["name"], e["count"]) for e in summary] == [("paid", 1)]


def test_an_event_whose_answer_was_lost_is_sent_again_unchanged(recorder: Recorder) -> None:
    answers = iter([httpx.Response(503), httpx.Response(202)])
    recorder.respond("POST", "/events", lambda request: next(answers))
    with recording(recorder) as connector:
        event = data(connector, "submit_event", event_name="paid", user_id="crm-1")
    first, second = (body_of(request) for request in recorder.requests)
    assert first == second == {k: v for k, v in event.items() if k != "type"}


def test_events_of_a_contact_are_named_one_way_only(recorder: Recorder) -> None:
    with recording(recorder) as connector, pytest.raises(InputValidationError) as refused:
        data(connector, "list_events", contact_id="a", email="b@example.com")
    assert "give only one of Contact ID, Email" in str(refused.value)
    with recording(recorder) as connector, pytest.raises(InputValidationError) as refused:
        data(connector, "submit_event", event_name="x")
    assert "give at least one of Contact ID, User ID, Email" in str(refused.value)
    assert recorder.requests == []


def test_list_events_pages_by_the_link_intercom_gives(intercom: Connector) -> None:
    contact = a_contact(intercom)
    for hour in range(5):
        data(intercom, "submit_event", event_name=f"step-{hour}", contact_id=contact["id"],
             created_at=int(time.time()) - hour * 3600)  # fmt: skip
    first = data(intercom, "list_events", contact_id=contact["id"], per_page=2)
    assert [e["event_name"] for e in first["events"]] == ["step-0", "step-1"]
    link = first["pages"]["next"]
    second = data(intercom, "list_events", contact_id=contact["id"], starting_after=link)
    assert [e["event_name"] for e in second["events"]] == ["step-2", "step-3"]
    every = data(intercom, "list_events", contact_id=contact["id"], per_page=2, fetch_all=True)
    assert [e["event_name"] for e in every["events"]] == [f"step-{n}" for n in range(5)]
    assert every["total_count"] == 5 and "next" not in every["pages"]


def test_a_link_to_another_host_is_never_followed(recorder: Recorder) -> None:
    with recording(recorder) as connector, pytest.raises(InputValidationError) as refused:
        data(connector, "list_events", contact_id="a",
             starting_after="https://elsewhere.example/events?before=1")  # fmt: skip
    assert "Starting After Cursor (starting_after): must be the link" in str(refused.value)
    assert recorder.requests == []
    away = {"type": "event.list", "events": [{"event_name": "x"}],
            "pages": {"next": "https://elsewhere.example/events?before=1"}}  # fmt: skip
    recorder.on("GET", "/events", away)
    with recording(recorder) as connector, pytest.raises(IntercomAPIError) as failed:
        data(connector, "list_events", contact_id="a", fetch_all=True)
    assert "not on the API host; it was not followed" in str(failed.value)
    assert [r.url.host for r in recorder.requests] == ["api.intercom.io"]


@pytest.mark.parametrize(
    "link",
    [
        "http://api.intercom.io/events?before=1",  # the token over plain http
        "https://api.intercom.io:8443/events?before=1",  # to another port of the host
        "https://me:secret@api.intercom.io/events?before=1",  # user info, printed in traces
    ],
)
def test_a_link_on_the_api_host_but_not_its_origin_is_never_followed(
    recorder: Recorder, link: str
) -> None:
    with recording(recorder) as connector, pytest.raises(InputValidationError) as refused:
        data(connector, "list_events", contact_id="a", starting_after=link)
    assert "must be the link a previous output gives" in str(refused.value)
    assert recorder.requests == []
    away = {"type": "event.list", "events": [{"event_name": "x"}], "pages": {"next": link}}
    recorder.on("GET", "/events", away)
    with recording(recorder) as connector, pytest.raises(IntercomAPIError) as failed:
        data(connector, "list_events", contact_id="a", fetch_all=True)
    assert "not on the API host; it was not followed" in str(failed.value)
    assert [str(r.url).split("/events")[0] for r in recorder.requests] == [
        "https://api.intercom.io"
    ]


@pytest.mark.parametrize("loop", [["a", "a"], ["a", "b", "c", "b"]], ids=["same", "back to b"])
def test_a_link_intercom_gives_again_ends_the_walk(recorder: Recorder, loop: list[str]) -> None:
    """pages.next links a, b, c, b: the second b is not followed (an endless walk else)."""
    links = [f"https://api.intercom.io/events?before={name}" for name in loop]

    def answer(request: httpx.Request) -> httpx.Response:
        count = len(recorder.requests)  # without the guard: a last page after 8, no hang
        following = links[count - 1] if count <= len(links) else links[-2]
        pages = {"next": following} if count < 8 else {}
        return httpx.Response(200, json={"type": "event.list", "pages": pages,
                                         "events": [{"event_name": str(count)}]})  # fmt: skip

    recorder.respond("GET", "/events", answer)
    with recording(recorder) as connector:
        every = data(connector, "list_events", contact_id="a", fetch_all=True)
    assert [e["event_name"] for e in every["events"]] == [str(n) for n in range(1, len(loop) + 1)]
    assert len(recorder.requests) == len(loop)


# -- data attributes ----------------------------------------------------------------------


def test_a_data_attributes_type_is_never_changed(intercom: Connector, sandbox: Sandbox) -> None:
    made = data(intercom, "create_data_attribute", name="seats_bought", model="company",
                data_type="integer")  # fmt: skip
    with pytest.raises(InputValidationError) as refused:
        data(intercom, "update_data_attribute", data_attribute_id=made["id"],
             data_type="string", description="Changed?")  # fmt: skip
    assert [str(p) for p in refused.value.problems] == [
        "Data Type (data_type): cannot change: Intercom keeps a data attribute's type once it "
        "is created (this one is integer); create a new attribute for string values"
    ]
    listed = data(intercom, "list_data_attributes", model="company")["data"]
    unchanged = next(a for a in listed if a.get("id") == made["id"])
    assert "description" not in unchanged  # nothing was sent
    same = data(intercom, "update_data_attribute", data_attribute_id=made["id"],
                data_type="integer", description="Seats bought")  # fmt: skip
    assert same["description"] == "Seats bought"


def test_a_list_attribute_takes_options_and_keeps_its_type(intercom: Connector) -> None:
    with pytest.raises(
        InputValidationError, match="Options \\(options\\): needs at least 2 values; got 1"
    ):
        data(intercom, "create_data_attribute", name="tier", model="contact",
             data_type="options", options=["gold"])  # fmt: skip
    made = data(intercom, "create_data_attribute", name="tier", model="contact",
                data_type="options", options=["silver", "gold"])  # fmt: skip
    changed = data(intercom, "update_data_attribute", data_attribute_id=made["id"],
                   data_type="options", options=["bronze", "silver", "gold"])  # fmt: skip
    assert changed["options"] == ["bronze", "silver", "gold"]


# -- messages -----------------------------------------------------------------------------

TO_ADA = {"admin_id": ADMIN, "contact_id": "6657a1b2c3d4e5f6a7b8c9d0"}


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({}, "Body (body): is required when Message Type is in_app"),
        ({"message_type": "email"},
         "Subject (subject): is required when Message Type is email, and so is Body"),
        ({"message_type": "whatsapp"},
         "WhatsApp Template (whatsapp_template): is required when Message Type is whatsapp"),
        ({"body": "Hi", "subject": "Hello"},
         "Subject (subject): is not sent when Message Type is in_app"),
        ({"message_type": "whatsapp", "whatsapp_template": "t", "body": "Hi"},
         "Body (body): is not sent when Message Type is whatsapp"),
    ],
)  # fmt: skip
def test_a_message_lacking_what_its_kind_needs_is_refused_unsent(
    inputs: dict[str, Any], problem: str, recorder: Recorder
) -> None:
    with recording(recorder) as connector, pytest.raises(InputValidationError) as refused:
        data(connector, "send_message", **TO_ADA, **inputs)
    assert [str(p) for p in refused.value.problems] == [problem]
    assert recorder.requests == []


def test_each_kind_of_message_reaches_the_contact(intercom: Connector) -> None:
    lead = a_contact(intercom, "lead@example.com", role="lead")
    sent = data(intercom, "send_message", admin_id=ADMIN, contact_id=lead["id"], role="lead",
                body="Hi")  # fmt: skip
    assert (sent["message_type"], sent["body"], sent["owner"]["id"]) == ("inapp", "Hi", ADMIN)
    email = data(intercom, "send_message", message_type="email", admin_id=ADMIN,
                 contact_id=lead["id"], role="lead", subject="Hello", body="<p>Hi</p>")  # fmt: skip
    assert (email["message_type"], email["subject"]) == ("email", "Hello")
    whatsapp = data(intercom, "send_message", message_type="whatsapp", admin_id=ADMIN,
                    contact_id=lead["id"], role="lead", whatsapp_template="welcome")  # fmt: skip
    assert whatsapp["message_type"] == "whatsapp"
    with pytest.raises(IntercomAPIError, match="404 not_found"):  # a lead is not a user
        data(intercom, "send_message", admin_id=ADMIN, contact_id=lead["id"], body="Hi")


def test_whatsapp_components_default_to_none(recorder: Recorder) -> None:
    recorder.on("POST", "/messages", {"type": "admin_message", "id": "1"})
    with recording(recorder) as connector:
        data(connector, "send_message", **TO_ADA, message_type="whatsapp",
             whatsapp_template="welcome")  # fmt: skip
    assert body_of(recorder.last)["components"] == []
    assert body_of(recorder.last)["from"] == {"type": "admin", "id": int(ADMIN)}


# -- articles -----------------------------------------------------------------------------


def test_an_article_is_a_draft_unless_published(intercom: Connector) -> None:
    collection = data(intercom, "list_collections")["data"][0]
    article = data(intercom, "create_article", title="Set up", author_id=ADMIN,
                   body="Step **one**\n\n- a\n- b", body_format="markdown",
                   collection_id=collection["id"])  # fmt: skip
    assert (article["state"], article["url"]) == ("draft", None)
    assert article["body"] == "<p>Step <b>one</b></p><ul><li>a</li><li>b</li></ul>"
    assert article["parent_ids"] == [int(collection["id"])]
    drafts = data(intercom, "search_articles", phrase="set up")["data"]["articles"]
    assert drafts == []  # searching published articles, the default
    published = data(intercom, "update_article", article_id=article["id"], state="published")
    assert published["url"].endswith(f"/articles/{article['id']}-set-up")
    assert published["body"] == article["body"]  # what is left empty stays as it is
    found = data(intercom, "search_articles", phrase="set up")["data"]["articles"]
    assert [a["id"] for a in found] == [article["id"]]


def test_select_article_and_collection_show_the_help_center(intercom: Connector) -> None:
    articles = intercom.data_source("select_article", {})["result"]
    assert {"key": "9331004", "label": "Connect your CRM (draft)"} in articles
    collections = intercom.data_source("select_collection", {})["result"]
    assert {"key": "2713581", "label": "Billing"} in collections


def test_select_subscription_type_reads_the_nested_name(intercom: Connector) -> None:
    choices = intercom.data_source("select_subscription_type", {})["result"]
    assert choices[0] == {"key": "1001", "label": "Newsletter (opt_out)"}


# -- contacts and companies ---------------------------------------------------------------


def test_a_merged_lead_brings_its_notes_and_tags_and_is_gone(intercom: Connector) -> None:
    user = a_contact(intercom, "same@example.com", role="user")
    lead = a_contact(intercom, "same@example.com", role="lead")
    tag = data(intercom, "create_tag", name="From the lead")
    data(intercom, "attach_tag_to_contact", contact_id=lead["id"], tag_id=tag["id"])
    data(intercom, "create_note", contact_id=lead["id"], body="Met at the fair")
    data(intercom, "merge_contacts", lead_contact_id=lead["id"], user_contact_id=user["id"])
    assert [
        t["id"] for t in data(intercom, "list_contact_tags", contact_id=user["id"])["data"]
    ] == [tag["id"]]
    notes = data(intercom, "list_notes", contact_id=user["id"])["data"]
    assert [n["body"] for n in notes] == ["Met at the fair"]
    with pytest.raises(IntercomAPIError, match="404 not_found"):
        data(intercom, "get_contact", contact_id=lead["id"])


def test_contacts_that_are_not_duplicates_merge_only_when_asked(intercom: Connector) -> None:
    user = a_contact(intercom, "one@example.com")
    lead = a_contact(intercom, "two@example.com", role="lead")
    with pytest.raises(IntercomAPIError, match="400 invalid_merge"):
        data(intercom, "merge_contacts", lead_contact_id=lead["id"], user_contact_id=user["id"])
    merged = data(intercom, "merge_contacts", lead_contact_id=lead["id"],
                  user_contact_id=user["id"], skip_duplicate_validation=True)  # fmt: skip
    assert merged["id"] == user["id"]


def test_a_company_is_tagged_and_untagged_by_tag_id(intercom: Connector) -> None:
    company = data(intercom, "create_company", company_id="tagged-co", name="Tagged")
    tag = data(intercom, "create_tag", name="Strategic")
    attached = data(intercom, "attach_tag_to_company", company_id=company["id"], tag_id=tag["id"])
    assert (attached["id"], attached["name"]) == (tag["id"], "Strategic")
    shown = data(intercom, "get_company", company_id=company["id"])["tags"]["tags"]
    assert [t["id"] for t in shown] == [tag["id"]]
    data(intercom, "detach_tag_from_company", company_id=company["id"], tag_id=tag["id"])
    assert data(intercom, "get_company", company_id=company["id"])["tags"]["tags"] == []
    with pytest.raises(IntercomAPIError, match="404 not_found"):
        data(intercom, "attach_tag_to_company", company_id=company["id"], tag_id="999999")


def test_a_blocked_contact_says_so_once(intercom: Connector) -> None:
    contact = a_contact(intercom)
    assert data(intercom, "block_contact", contact_id=contact["id"])["blocked"] is True
    assert "blocked" not in data(intercom, "get_contact", contact_id=contact["id"])


# -- the example flow ---------------------------------------------------------------------


def _cli(*args: str, sandbox_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(sandbox_dir)
    return subprocess.run(
        [sys.executable, "-m", "intercom_connector", *args],
        capture_output=True, text=True, env=env, timeout=120, cwd=REPO,
    )  # fmt: skip


def test_the_product_usage_example_runs_on_the_embedded_sandbox(tmp_path: Path) -> None:
    done = _cli("flow", "run", "examples/product-usage.yaml", "--json", sandbox_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "using the embedded sandbox" in done.stderr
    steps = {key: value["data"] for key, value in json.loads(done.stdout).items()}
    contact = steps["contact"]
    assert steps["event"]["user_id"] == contact["external_id"]
    assert [(e["name"], e["count"]) for e in steps["usage"]["events"]] == [("exported-report", 1)]
    assert steps["note"]["body"] == "Exported a report of 1200 rows: worth a call."
    assert steps["note"]["contact"]["id"] == contact["id"]
    message = steps["message"]
    assert (message["message_type"], message["body"]) == (
        "inapp", "Hi Grace Hopper, need a hand with your exports? Just reply here.",
    )  # fmt: skip
    # the teammate is one the Select Admin dropdown offers
    admins = json.loads(
        _cli("data-source", "select_admin", "--sandbox", sandbox_dir=tmp_path).stdout
    )
    chosen = {choice["key"]: choice["label"] for choice in admins["result"]}
    assert steps["note"]["author"]["id"] == message["owner"]["id"] == "991267002"
    assert chosen["991267002"].startswith("Sam Support")
