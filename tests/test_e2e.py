"""End to end: the real CLI in a subprocess, over real loopback HTTP, against `sandbox serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from designer_support import read_url
from support import REPO, run_cli

from intercom_connector.sandbox import Sandbox

TOKEN = "e2e-sandbox-token"
USERS_ADDED = 950  # with the demo workspace's 50: 1,000 contacts


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`intercom-connector sandbox serve` in its own process, on the loopback port it picks."""
    data = tmp_path_factory.mktemp("sandbox")
    Sandbox(data).add_contacts(USERS_ADDED, role="lead", prefix="e2e")
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "sandbox", "serve",
         "--port", "0", "--token", TOKEN, "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = read_url(process, r"Intercom sandbox on (http://127\.0\.0\.1:\d+) ")
    yield url
    process.terminate()
    process.wait(timeout=10)


def cli(server: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": server}
    return run_cli(*args, env=env, timeout=120)


def run(server: str, action: str, **inputs: Any) -> Any:
    """One action through the CLI; its `data`, after asserting a clean exit."""
    args = ["run", action]
    for key, value in inputs.items():
        text = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
        args += ["--input", f"{key}={text}"]
    done = cli(server, *args)
    assert done.returncode == 0, f"{action}: {done.stderr}"
    assert "sandbox" not in done.stderr  # a real connection: no embedded-sandbox note
    return json.loads(done.stdout)["data"]


def test_every_action_through_the_cli(server: str) -> None:
    seen: set[str] = set()

    def act(action: str, **inputs: Any) -> Any:
        seen.add(action)
        return run(server, action, **inputs)

    company = act("create_company", company_id="e2e-co", name="E2E Ltd", size=7, plan="Pro")
    assert (company["company_id"], company["size"], company["plan"]["name"]) == ("e2e-co", 7, "Pro")
    again = act("create_company", company_id="e2e-co", name="E2E Limited")
    assert (again["id"], again["name"]) == (company["id"], "E2E Limited")  # an upsert

    contact = act("create_contact", email="E2E@Example.com", role="user", external_id="e2e-1")
    cid = contact["id"]
    assert act("get_contact", contact_id=cid)["email"] == "e2e@example.com"
    assert act("update_contact", contact_id=cid, name="Eve")["name"] == "Eve"

    act("attach_company_to_contact", contact_id=cid, company_id=company["id"])
    assert act("get_company", company_id=company["id"])["user_count"] == 1
    tag = act("create_tag", name="E2E")
    assert act("update_tag", tag_id=tag["id"], name="E2E renamed")["name"] == "E2E renamed"
    applied = act("attach_tag_to_contact", contact_id=cid, tag_id=tag["id"])
    assert applied["applied_at"] > 0
    linked = act("get_contact", contact_id=cid)
    assert [t["id"] for t in linked["tags"]["data"]] == [tag["id"]]
    assert [c["id"] for c in linked["companies"]["data"]] == [company["id"]]
    assert tag["id"] in {t["id"] for t in act("list_tags")["data"]}
    assert [t["id"] for t in act("list_contact_tags", contact_id=cid)["data"]] == [tag["id"]]
    of_contact = act("list_contact_companies", contact_id=cid)
    assert [c["id"] for c in of_contact["data"]] == [company["id"]]
    of_company = act("list_company_contacts", company_id=company["id"], fetch_all=True)
    assert [c["id"] for c in of_company["data"]] == [cid]
    workspace_and_content(act, cid, company["id"], tag["id"])

    found = act("search_contacts", email="e2e@example.com")
    assert [c["id"] for c in found["data"]] == [cid]
    updated = act("update_company", company_id=company["id"], industry="Testing")
    assert updated["industry"] == "Testing"
    listed = act("list_companies", name="E2E Limited")
    assert [c["id"] for c in listed["data"]] == [company["id"]]

    types = act("list_ticket_types")["data"]
    ticket = act(
        "create_ticket",
        ticket_type_id=types[0]["id"],
        contact_id="e2e@example.com",
        ticket_attributes={"default_title": "E2E", "default_description": "Through the CLI"},
    )
    assert ticket["ticket_attributes"]["_default_title_"] == "E2E"
    assert act("get_ticket", ticket_id=ticket["id"])["contacts"]["contacts"][0]["id"] == cid

    me = act("raw_request", url="/me", method="GET")
    assert me["status"] == 200 and me["data"]["type"] == "admin"

    act("detach_tag_from_contact", contact_id=cid, tag_id=tag["id"])
    act("detach_company_from_contact", contact_id=cid, company_id=company["id"])
    assert act("get_contact", contact_id=cid)["tags"]["data"] == []
    assert act("archive_contact", contact_id=cid)["archived"] is True
    assert cid not in {c["id"] for c in act("list_contacts", per_page=150)["data"]}
    assert act("unarchive_contact", contact_id=cid)["archived"] is False
    assert act("delete_tag", tag_id=tag["id"]) == {"id": tag["id"], "deleted": True}
    assert act("delete_contact", contact_id=cid)["deleted"] is True
    assert act("delete_company", company_id=company["id"])["deleted"] is True

    gone = cli(server, "run", "get_contact", "--input", f"contact_id={cid}")
    assert gone.returncode == 4 and "404 not_found" in gone.stderr

    first = act("list_contacts", per_page=3)
    assert len(first["data"]) == 3 and first["pages"]["next"]["starting_after"]
    support_desk(act)
    every_key = {a["key"] for a in json.loads(cli(server, "actions", "--json").stdout)}
    assert seen == every_key


def support_desk(act: Callable[..., Any]) -> None:
    """Every conversation and ticket action, as a support team chains them."""
    me = act("raw_request", url="/me", method="GET")["data"]["id"]
    vip = act("search_contacts", json_query={"field": "tag_id", "operator": "=", "value": "1"})
    who = vip["data"][0]
    started = act("create_conversation", contact_id=who["id"], role=who["role"], body="Hi")
    cid = started["conversation_id"]
    assert cid in {c["id"] for c in act("list_conversations", per_page=150)["conversations"]}
    mine = {"field": "contact_ids", "operator": "=", "value": who["id"]}
    found = act("search_conversations", json_query=mine)["conversations"]
    assert cid in {c["id"] for c in found}
    act("reply_to_conversation", conversation_id=cid, admin_id=me, message_type="note", body="VIP")
    back = act("reply_to_conversation", conversation_id="last", reply_as="contact",
               contact_id=who["email"], body="Thanks")  # fmt: skip
    assert back["id"] == cid
    teams = act("raw_request", url="/teams", method="GET")["data"]["teams"]
    assigned = act("assign_conversation", conversation_id=cid, admin_id=me,
                   team_id=teams[0]["id"], body="Yours")  # fmt: skip
    assert assigned["team_assignee_id"] == int(teams[0]["id"])
    assert act("close_conversation", conversation_id=cid, admin_id=me)["state"] == "closed"
    snoozed = act("snooze_conversation", conversation_id=cid, admin_id=me,
                  snoozed_until="2030-01-06T09:00:00Z")  # fmt: skip
    assert (snoozed["state"], snoozed["snoozed_until"]) == ("snoozed", 1893920400)
    assert act("open_conversation", conversation_id=cid, admin_id=me)["state"] == "open"
    tag = act("attach_tag_to_conversation", conversation_id=cid, tag_id="2", admin_id=me)
    assert tag["applied_by"]["id"] == me
    act("detach_tag_from_conversation", conversation_id=cid, tag_id="2", admin_id=me)
    updated = act("update_conversation", conversation_id=cid, read=True, title="Seats")
    assert (updated["read"], updated["tags"]["tags"]) == (True, [])
    shown = act("get_conversation", conversation_id=cid, display_as="plaintext")
    assert [p["part_type"] for p in shown["conversation_parts"]["conversation_parts"]] == [
        "note", "comment", "assignment", "close", "snoozed", "open",
    ]  # fmt: skip
    types = act("list_ticket_types")["data"]
    ticket = act("convert_conversation_to_ticket", conversation_id=cid,
                 ticket_type_id=types[0]["id"])  # fmt: skip
    assert ticket["ticket_attributes"]["_default_title_"] == "Seats"
    states = act("list_ticket_states")["data"]
    moved = act("update_ticket", ticket_id=ticket["id"], ticket_state_id=states[1]["id"],
                admin_id=me, assignee_id=me)  # fmt: skip
    assert (moved["ticket_state"]["id"], moved["admin_assignee_id"]) == (states[1]["id"], int(me))
    part = act("reply_to_ticket", ticket_id=ticket["id"], reply_as="contact",
               contact_id=who["id"], body="Any news?")  # fmt: skip
    assert part["author"]["id"] == who["id"]
    by_state = {"field": "state", "operator": "=", "value": states[1]["category"]}
    assert ticket["id"] in {t["id"] for t in act("search_tickets", json_query=by_state)["tickets"]}
    assert act("delete_ticket", ticket_id=ticket["id"])["deleted"] is True


def workspace_and_content(act: Callable[..., Any], cid: str, company: str, tag: str) -> None:
    """Notes, data events, admins, teams, segments, data attributes, the help center,
    messages, and more of contacts and companies, for the contact ``cid``."""
    me = act("identify_admin")
    assert (me["id"], me["app"]["region"]) == ("991267001", "US")
    sam = next(a for a in act("list_admins")["admins"] if a["name"] == "Sam Support")
    away = act("set_admin_away", admin_id=sam["id"], away_mode_reassign=True)
    assert (away["away_mode_enabled"], away["away_mode_reassign"]) == (True, True)
    assert act("get_admin", admin_id=sam["id"])["away_mode_enabled"] is True
    team = act("list_teams")["teams"][0]
    assert int(sam["id"]) in act("get_team", team_id=team["id"])["admin_ids"]

    note = act("create_note", contact_id=cid, body="Asked for a demo", admin_id=sam["id"])
    assert note["author"]["id"] == sam["id"]
    assert act("get_note", note_id=note["id"])["body"] == "Asked for a demo"
    assert [n["id"] for n in act("list_notes", contact_id=cid)["data"]] == [note["id"]]
    on_company = act("create_company_note", company_id=company, body="Renewal")
    assert on_company["company"]["id"] == company and on_company["author"]["id"] == me["id"]

    sent = act("submit_event", event_name="ran-report", contact_id=cid, metadata={"rows": 12})
    assert sent["metadata"] == {"rows": 12} and sent["created_at"] > 0
    act("submit_event", event_name="ran-report", email="e2e@example.com", created_at=1_800_000_000)
    events = act("list_events", contact_id=cid, per_page=1, fetch_all=True)["events"]
    assert [e["event_name"] for e in events] == ["ran-report", "ran-report"]
    summary = act("list_event_summaries", user_id="e2e-1")["events"]
    assert [(e["name"], e["count"]) for e in summary] == [("ran-report", 2)]

    segments = act("list_segments", include_count=True)["segments"]
    users = next(s for s in segments if s["name"] == "Users")
    assert users["count"] >= 1 and act("get_segment", segment_id=users["id"])["name"] == "Users"
    assert users["id"] in {s["id"] for s in act("list_contact_segments", contact_id=cid)["data"]}
    assert act("list_company_segments", company_id=company)["data"] == []

    listed = act("list_data_attributes", model="company")["data"]
    assert {"region", "account_manager"} <= {a["name"] for a in listed}
    level = act("create_data_attribute", name="E2E level", model="contact", data_type="integer")
    changed = act("update_data_attribute", data_attribute_id=level["id"], description="How far")
    assert (changed["description"], changed["data_type"]) == ("How far", "integer")

    collection = act("list_collections")["data"][0]
    markdown = {"body": "# Steps\n\n**Run** it.", "body_format": "markdown"}
    article = act("create_article", title="E2E guide", author_id=me["id"],
                  collection_id=collection["id"], **markdown)  # fmt: skip
    assert (article["state"], article["body"]) == ("draft", "<h1>Steps</h1><p><b>Run</b> it.</p>")
    published = act("update_article", article_id=article["id"], state="published")
    assert published["url"] and act("get_article", article_id=article["id"])["state"] == "published"
    assert article["id"] in {a["id"] for a in act("list_articles", fetch_all=True)["data"]}
    found = act("search_articles", phrase="e2e guide")["data"]["articles"]
    assert [a["id"] for a in found] == [article["id"]]
    assert act("delete_article", article_id=article["id"])["deleted"] is True

    message = act("send_message", message_type="email", admin_id=sam["id"], contact_id=cid,
                  subject="Welcome", body="<p>Hello</p>")  # fmt: skip
    assert (message["message_type"], message["owner"]["id"]) == ("email", sam["id"])

    assert act("find_contact_by_external_id", external_id="e2e-1")["id"] == cid
    assert act("list_contact_subscriptions", contact_id=cid)["data"] == []
    lead = act("create_contact", role="lead", email="e2e@example.com")
    merged = act("merge_contacts", lead_contact_id=lead["id"], user_contact_id=cid)
    assert merged["id"] == cid
    assert act("block_contact", contact_id=cid)["blocked"] is True

    act("attach_tag_to_company", company_id=company, tag_id=tag)
    assert [t["id"] for t in act("get_company", company_id=company)["tags"]["tags"]] == [tag]
    act("detach_tag_from_company", company_id=company, tag_id=tag)
    assert act("get_company", company_id=company)["tags"]["tags"] == []


def test_more_actions_refuse_and_fail_as_documented(server: str) -> None:
    """Bad inputs are refused before anything is sent (exit 2); Intercom's refusals exit 4."""
    to_ada = ["-i", "admin_id=991267001", "-i", "contact_id=6657a1b2c3d4e5f6a7b8c9d0"]
    no_subject = cli(
        server, "--verbose", "run", "send_message", "-i", "message_type=email", *to_ada
    )
    assert no_subject.returncode == 2
    expected = "Subject (subject): is required when Message Type is email, and so is Body"
    assert expected in no_subject.stderr
    assert "-> POST" not in no_subject.stderr

    attribute = run(server, "create_data_attribute", name="E2E flag", model="company",
                    data_type="boolean")  # fmt: skip
    retyped = cli(server, "--verbose", "run", "update_data_attribute", "-i",
                  f"data_attribute_id={attribute['id']}", "-i", "data_type=string")  # fmt: skip
    assert retyped.returncode == 2
    assert "Data Type (data_type): cannot change" in retyped.stderr
    assert "this one is boolean" in retyped.stderr and "-> PUT" not in retyped.stderr

    elsewhere = cli(server, "run", "list_events", "-i", "contact_id=x",
                    "-i", "starting_after=https://attacker.example/events?page=2")  # fmt: skip
    assert (
        elsewhere.returncode == 2 and "Starting After Cursor (starting_after)" in elsewhere.stderr
    )

    for args, code in [
        (["get_note", "-i", "note_id=999999"], "404 not_found"),
        (["find_contact_by_external_id", "-i", "external_id=nobody"], "404 not_found"),
        (["list_events", "-i", "email=nobody@example.com"], "404 not_found"),
        (["get_article", "-i", "article_id=1"], "404 not_found"),
    ]:
        done = cli(server, "run", *args)
        assert done.returncode == 4 and code in done.stderr, (args, done.stderr)


def test_fetch_all_walks_20_pages_without_losing_or_repeating(server: str) -> None:
    done = cli(
        server, "--verbose", "run", "list_contacts", "-i", "fetch_all=true", "-i", "per_page=50"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["data"]
    ids = [c["id"] for c in result["data"]]
    assert len(ids) == len(set(ids)) >= 1000
    assert result["total_count"] == len(ids) and "next" not in result["pages"]
    pages = [line for line in done.stderr.splitlines() if line.startswith("<- 200 GET /contacts")]
    assert len(pages) == -(-len(ids) // 50)


def test_fetch_all_keeps_the_filters_on_every_page(server: str) -> None:
    # 7 pages: a walk too short to be split into ranges (runtime/paging/search_ranges.py)
    done = cli(
        server, "--verbose", "run", "search_contacts",
        "-i", "role=lead", "-i", "fetch_all=true", "-i", "per_page=150",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    leads = json.loads(done.stdout)["data"]["data"]
    ids = [c["id"] for c in leads]
    assert len(ids) == len(set(ids)) >= USERS_ADDED
    assert {c["role"] for c in leads} == {"lead"}
    pages = [line for line in done.stderr.splitlines() if line.startswith("<- 200 POST /contacts/")]
    assert len(pages) == -(-len(ids) // 150)


def test_fetch_all_walks_every_page_of_conversations(server: str) -> None:
    done = cli(server, "--verbose", "run", "list_conversations", "-i", "fetch_all=true",
               "-i", "per_page=3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)["data"]
    ids = [c["id"] for c in listed["conversations"]]
    assert len(ids) == len(set(ids)) == listed["total_count"] >= 10
    pages = [line for line in done.stderr.splitlines() if line.startswith("<- 200 GET /conver")]
    assert len(pages) == -(-len(ids) // 3) >= 4


def test_a_search_of_conversations_keeps_its_query_on_every_page(server: str) -> None:
    query = json.dumps({"field": "state", "operator": "IN", "value": ["closed", "snoozed"]})
    done = cli(server, "--verbose", "run", "search_conversations", "-i", f"json_query={query}",
               "-i", "fetch_all=true", "-i", "per_page=2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["data"]["conversations"]
    assert {c["state"] for c in found} == {"closed", "snoozed"} and len(found) >= 5
    pages = [line for line in done.stderr.splitlines() if line.startswith("<- 200 POST /conver")]
    assert len(pages) == -(-len(found) // 2)


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["get_conversation", "conversation_id=4242"], 4,
         "Intercom answered 404 not_found on GET /conversations/4242: Resource Not Found"),
        (["assign_conversation", "conversation_id=100000001", "admin_id=991267001",
          "assignee_id=4242"], 4,
         "Intercom answered 404 assignee_not_found on POST /conversations/100000001/parts: "
         "Assignee not found"),
        (["close_conversation", "conversation_id=100000001", "admin_id=4242"], 4,
         "404 admin_not_found"),
        (["snooze_conversation", "conversation_id=100000001", "admin_id=991267001"], 2,
         "Snoozed Until (snoozed_until): is required"),
        (["reply_to_conversation", "conversation_id=last", "reply_as=contact", "body=Hi"], 2,
         "Contact ID (contact_id): is required when Reply As is contact"),
        (["reply_to_conversation", "conversation_id=last", "reply_as=contact",
          "contact_id=nobody@example.com", "body=Hi"], 4, "404 not_found"),
        (["search_tickets", 'json_query={"operator": "OR", "value": [' +
          ", ".join(['{"field": "open", "operator": "=", "value": true}'] * 16) + "]}"], 2,
         "JSON Query (json_query): at query: an OR group holds 16 filters"),
    ],
)  # fmt: skip
def test_what_a_support_user_gets_wrong_is_one_message_and_its_exit_code(
    server: str, args: list[str], status: int, expected: str
) -> None:
    action, *inputs = args
    done = cli(server, "run", action, *[arg for text in inputs for arg in ("-i", text)])
    assert done.returncode == status, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert TOKEN not in done.stderr


def test_the_support_triage_flow_runs_against_the_served_sandbox(server: str) -> None:
    done = cli(server, "flow", "run", str(REPO / "examples" / "support-triage.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    first, second = outputs["open_conversations"]["data"]["conversations"][:2]
    assert first["id"] == outputs["write_in"]["data"]["conversation_id"]
    assert outputs["assign"]["data"]["team_assignee_id"] > 0
    assert (outputs["snooze"]["data"]["id"], outputs["snooze"]["data"]["state"]) == (
        second["id"],
        "snoozed",
    )
    ticket = outputs["in_progress"]["data"]
    assert ticket["id"] == outputs["ticket"]["data"]["id"]
    assert ticket["ticket_state"]["category"] == "in_progress"
    assert ticket["linked_objects"]["data"][0]["id"] == first["id"]


def test_example_flow_runs_against_the_served_sandbox(server: str) -> None:
    done = cli(server, "flow", "run", str(REPO / "examples" / "onboard-customer.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    contact = outputs["contact"]["data"]
    assert outputs["find_contact"]["data"]["data"][0]["id"] == contact["id"]
    ticket = outputs["ticket_again"]["data"]
    assert ticket["id"] == outputs["ticket"]["data"]["id"]
    assert ticket["contacts"]["contacts"][0]["id"] == contact["id"]
    assert contact["id"] in {c["id"] for c in outputs["all_contacts"]["data"]["data"]}


def test_the_main_job_runs_with_no_credentials_at_all(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "intercom_connector",
            "flow",
            "run",
            "examples/onboard-customer.yaml",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "using the embedded sandbox" in done.stderr
    headers = [line for line in done.stdout.splitlines() if line.startswith("# step ")]
    assert len(headers) == 10 and headers[-1] == "# step 10/10 ticket_again: get_ticket"
    assert (tmp_path / "sandbox.sqlite3").is_file()
    second = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "run", "list_tags"],
        capture_output=True, text=True, env=env, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert "Onboarding" in {t["name"] for t in json.loads(second.stdout)["data"]["data"]}


def test_the_support_triage_flow_runs_twice_with_no_credentials_at_all(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(tmp_path)
    for _ in range(2):  # a second run finds the first one's conversations and still works
        done = subprocess.run(
            [sys.executable, "-m", "intercom_connector", "flow", "run",
             "examples/support-triage.yaml"],
            capture_output=True, text=True, env=env, timeout=120, cwd=REPO,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "using the embedded sandbox" in done.stderr
        headers = [line for line in done.stdout.splitlines() if line.startswith("# step ")]
        assert headers[-1] == "# step 13/13 in_progress: update_ticket"


def test_a_failing_step_is_named(server: str, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "steps:\n"
        "  - id: tag\n    action: create_tag\n    inputs: {name: ok}\n"
        "  - id: broken\n    action: get_contact\n    inputs: {contact_id: does-not-exist}\n"
    )
    done = cli(server, "flow", "run", str(flow))
    assert done.returncode == 4
    assert "step 'broken' (get_contact) failed: Intercom answered 404 not_found" in done.stderr
    assert "# step 1/2 tag: create_tag" in done.stdout


def test_a_reference_to_a_later_step_fails_before_anything_runs(
    server: str, tmp_path: Path
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "steps:\n"
        "  - id: first\n    action: create_tag\n"
        "    inputs: {name: '{{ steps.second.data.name }}'}\n"
        "  - id: second\n    action: create_tag\n    inputs: {name: x}\n"
    )
    done = cli(server, "flow", "run", str(flow))
    assert done.returncode == 2
    assert "step 'first'" in done.stderr and "earlier steps: none" in done.stderr
    assert done.stdout == ""
