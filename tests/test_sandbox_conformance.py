"""Every answer the sandbox gives, success or error, validates against the official spec."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from support import HttpxOpenAPIRequest, HttpxOpenAPIResponse, RecordingTransport

from intercom_connector import Connector
from intercom_connector.runtime.errors import ConnectorError
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.sandbox import Sandbox

pytestmark = pytest.mark.spec


@pytest.fixture
def traffic() -> Iterator[tuple[Connector, RecordingTransport, Sandbox]]:
    sandbox = Sandbox(":memory:")
    recording = RecordingTransport(sandbox.transport())
    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    with Connector(connection, transport=recording) as connector:
        yield connector, recording, sandbox


def every_action(connector: Connector) -> None:
    """The actions chained as a flow would chain them (each one alone, from the manifest:
    tests/test_scenarios.py)."""

    def run(key: str, inputs: dict[str, Any]) -> Any:
        return connector.invoke(key, inputs)

    company_inputs = {"company_id": "conf-co", "name": "Conf", "plan": "Pro", "size": 3,
                      "monthly_spend": 10, "custom_attributes": {"region": "EMEA"}}  # fmt: skip
    company = run("create_company", company_inputs)["data"]
    contact_inputs = {"email": "conf@example.com", "custom_attributes": {"plan_tier": "gold"}}
    contact = run("create_contact", contact_inputs)["data"]
    tag = run("create_tag", {"name": "Conformance"})["data"]
    cid = contact["id"]
    run("update_tag", {"tag_id": tag["id"], "name": "Conformance 2"})
    run("attach_company_to_contact", {"contact_id": cid, "company_id": company["id"]})
    run("attach_tag_to_contact", {"contact_id": cid, "tag_id": tag["id"]})
    run("get_contact", {"contact_id": cid})
    run("update_contact", {"contact_id": cid, "phone": "+1 555 0100"})
    run("get_company", {"company_id": company["id"]})
    run("update_company", {"company_id": company["id"], "industry": "Testing"})
    run("list_companies", {"per_page": 2})
    run("list_companies", {"fetch_all": True, "name": "Conf"})
    run("list_contacts", {"per_page": 5})
    run("list_contacts", {"per_page": 5, "order": "asc"})
    run("search_contacts", {"email": "conf@example.com"})
    run("search_contacts", {"json_query": {"operator": "OR", "value": [
        {"field": "role", "operator": "=", "value": "lead"},
        {"field": "custom_attributes.plan_tier", "operator": "~", "value": "go"}]}})  # fmt: skip
    run("list_tags", {})
    types = run("list_ticket_types", {})["data"]["data"]
    ticket_inputs = {"ticket_type_id": types[0]["id"], "contact_id": cid,
                     "ticket_attributes": {"default_title": "Hi"}}  # fmt: skip
    ticket = run("create_ticket", ticket_inputs)["data"]
    run("get_ticket", {"ticket_id": ticket["id"]})
    run("raw_request", {"url": "/me", "method": "GET"})
    run("raw_request", {"url": "/companies/scroll", "method": "GET"})
    run("raw_request", {"url": "/companies?tag_id=1", "method": "GET"})
    run("list_contact_tags", {"contact_id": cid})
    run("list_contact_companies", {"contact_id": cid})
    run("list_company_contacts", {"company_id": company["id"], "fetch_all": True})
    more_of_the_workspace(run, cid, company["id"], tag["id"])
    run("detach_tag_from_contact", {"contact_id": cid, "tag_id": tag["id"]})
    run("detach_company_from_contact", {"contact_id": cid, "company_id": company["id"]})
    run("archive_contact", {"contact_id": cid})
    run("unarchive_contact", {"contact_id": cid})
    run("delete_tag", {"tag_id": tag["id"]})
    run("delete_contact", {"contact_id": cid})
    run("delete_company", {"company_id": company["id"]})
    conversations_and_tickets(run)


def conversations_and_tickets(run: Callable[[str, dict[str, Any]], Any]) -> None:
    """Every conversation and ticket action, as a support flow chains them."""
    admin, team = "991267001", "991268001"
    vip = run("search_contacts", {"json_query": {"field": "tag_id", "operator": "=",
                                                 "value": "1"}})["data"]["data"][0]  # fmt: skip
    started = run("create_conversation", {"contact_id": vip["id"], "role": vip["role"],
                                          "body": "Hello", "attachment_urls": [
                                              "https://example.com/a.png"]})["data"]  # fmt: skip
    cid = started["conversation_id"]
    run("list_conversations", {"per_page": 3})
    run("list_conversations", {"fetch_all": True, "per_page": 4})
    run("search_conversations", {"json_query": {"operator": "AND", "value": [
        {"field": "state", "operator": "=", "value": "open"},
        {"field": "contact_ids", "operator": "=", "value": vip["id"]}]}})  # fmt: skip
    body_words = {"field": "source.body", "operator": "=", "value": "invoice"}
    run("search_conversations", {"json_query": body_words, "fetch_all": True})
    run("get_conversation", {"conversation_id": cid, "display_as": "plaintext"})
    run("reply_to_conversation", {"conversation_id": cid, "admin_id": admin, "body": "Hi!"})
    run("reply_to_conversation", {"conversation_id": cid, "admin_id": admin,
                                  "message_type": "note", "body": "<b>VIP</b>"})  # fmt: skip
    run("reply_to_conversation", {"conversation_id": "last", "reply_as": "contact",
                                  "contact_id": vip["email"], "body": "Thanks"})  # fmt: skip
    run("assign_conversation", {"conversation_id": cid, "admin_id": admin, "team_id": team,
                                "body": "For support"})  # fmt: skip
    run("assign_conversation", {"conversation_id": cid, "admin_id": admin, "assignee_id": admin})
    run("assign_conversation", {"conversation_id": cid, "admin_id": admin, "unassign": True})
    run("close_conversation", {"conversation_id": cid, "admin_id": admin, "body": "Bye"})
    run("snooze_conversation", {"conversation_id": cid, "admin_id": admin,
                                "snoozed_until": "2099-01-01T00:00:00Z"})  # fmt: skip
    run("open_conversation", {"conversation_id": cid, "admin_id": admin})
    tag = run("list_tags", {})["data"]["data"][0]
    run("attach_tag_to_conversation", {"conversation_id": cid, "tag_id": tag["id"],
                                       "admin_id": admin})  # fmt: skip
    run("detach_tag_from_conversation", {"conversation_id": cid, "tag_id": tag["id"],
                                         "admin_id": admin})  # fmt: skip
    run("update_conversation", {"conversation_id": cid, "read": True, "title": "Greeting",
                                "custom_attributes": {"issue_type": "Billing"}})  # fmt: skip
    types = run("list_ticket_types", {})["data"]["data"]
    convert = {"conversation_id": cid, "ticket_type_id": types[0]["id"]}
    ticket = run("convert_conversation_to_ticket", convert)["data"]
    states = run("list_ticket_states", {})["data"]["data"]
    run("update_ticket", {"ticket_id": ticket["id"], "ticket_state_id": states[1]["id"],
                          "admin_id": admin, "assignee_id": admin, "is_shared": True,
                          "ticket_attributes": {"default_description": "More"},
                          "snoozed_until": "2099-01-01"})  # fmt: skip
    run("update_ticket", {"ticket_id": ticket["id"], "open": False, "admin_id": admin,
                          "team_id": team})  # fmt: skip
    run("reply_to_ticket", {"ticket_id": ticket["id"], "admin_id": admin, "body": "Noted",
                            "message_type": "note"})  # fmt: skip
    run("reply_to_ticket", {"ticket_id": ticket["id"], "reply_as": "contact",
                            "contact_id": vip["id"], "body": "Thanks"})  # fmt: skip
    run("search_tickets", {"json_query": {"field": "category", "operator": "=",
                                          "value": "request"}, "fetch_all": True,
                           "per_page": 1})  # fmt: skip
    run("get_ticket", {"ticket_id": ticket["id"]})
    run("delete_ticket", {"ticket_id": ticket["id"]})


def more_of_the_workspace(run: Any, cid: str, company_id: str, tag_id: str) -> None:
    """Notes, data events, admins, teams, segments, data attributes, the help center,
    messages, and more of contacts and companies, for the contact ``cid``."""
    admin = "991267002"
    note = run("create_note", {"contact_id": cid, "body": "Conformance", "admin_id": admin})
    run("list_notes", {"contact_id": cid, "per_page": 1})
    run("list_notes", {"contact_id": cid, "fetch_all": True})
    run("get_note", {"note_id": note["data"]["id"]})
    run("create_company_note", {"company_id": company_id, "body": "Conformance"})
    metadata = {"plan": "pro", "seats": 3, "price": {"amount": 34999, "currency": "eur"},
                "article": {"url": "https://example.org/a", "value": "A"}}  # fmt: skip
    for day, who in enumerate([{"contact_id": cid}, {"email": "conf@example.com"}]):
        run("submit_event", {"event_name": "conformed", "created_at": 1_800_000_000 + day,
                             "metadata": metadata, **who})  # fmt: skip
    run("submit_event", {"event_name": "conformed-now", "contact_id": cid})
    run("list_events", {"contact_id": cid, "per_page": 1, "fetch_all": True})
    run("list_events", {"user_id": "crm-1000"})
    run("list_event_summaries", {"email": "conf@example.com"})
    run("list_admins", {})
    run("get_admin", {"admin_id": admin})
    run("identify_admin", {})
    run("set_admin_away", {"admin_id": admin, "away_mode_reassign": True})
    run("set_admin_away", {"admin_id": admin, "away_mode_enabled": False})
    team = run("list_teams", {})["data"]["teams"][0]
    run("get_team", {"team_id": team["id"]})
    segment = run("list_segments", {"include_count": True})["data"]["segments"][0]
    run("list_segments", {})
    run("get_segment", {"segment_id": segment["id"]})
    run("list_contact_segments", {"contact_id": cid})
    run("list_company_segments", {"company_id": company_id})
    run("list_data_attributes", {"model": "contact"})
    run("list_data_attributes", {"include_archived": True})
    tier = run(
        "create_data_attribute",
        {
            "name": "Conformance tier",
            "model": "company",
            "data_type": "options",
            "options": ["a", "b"],
        },
    )
    run("update_data_attribute", {"data_attribute_id": str(tier["data"]["id"]),
                                  "options": ["a", "b", "c"], "description": "Tiers"})  # fmt: skip
    seats = run("create_data_attribute", {"name": "Conformance seats", "model": "contact",
                                          "data_type": "integer"})  # fmt: skip
    run("update_data_attribute", {"data_attribute_id": str(seats["data"]["id"]),
                                  "data_type": "integer", "archived": True})  # fmt: skip
    collections = run("list_collections", {"per_page": 2})["data"]["data"]
    run("list_collections", {"fetch_all": True, "per_page": 1})
    article = run("create_article", {"title": "Conformance", "body": "# Hi\n\n- *one*",
                                     "body_format": "markdown", "author_id": "991267001",
                                     "collection_id": collections[0]["id"]})["data"]  # fmt: skip
    run("get_article", {"article_id": article["id"]})
    run("update_article", {"article_id": article["id"], "state": "published",
                           "body": "<p>Hi</p>", "collection_id": collections[1]["id"]})  # fmt: skip
    run("list_articles", {"per_page": 2})
    run("list_articles", {"fetch_all": True, "per_page": 2})
    run("search_articles", {"phrase": "conformance", "state": "all"})
    run("delete_article", {"article_id": article["id"]})
    for message in (
        {"body": "Hi"},
        {"message_type": "email", "subject": "Hi", "body": "<p>Hi</p>",
         "email_template": "personal"},
        {"message_type": "whatsapp", "whatsapp_template": "welcome",
         "whatsapp_components": [{"type": "body", "parameters": []}]},
    ):  # fmt: skip
        run("send_message", {"admin_id": "991267001", "contact_id": cid, **message})
    seeded = run("find_contact_by_external_id", {"external_id": "crm-1000"})["data"]
    run("list_contact_subscriptions", {"contact_id": seeded["id"]})
    user = run("create_contact", {"email": "merge@example.com", "role": "user"})["data"]
    lead = run("create_contact", {"email": "merge@example.com", "role": "lead"})["data"]
    run("merge_contacts", {"lead_contact_id": lead["id"], "user_contact_id": user["id"]})
    run("block_contact", {"contact_id": user["id"]})
    run("attach_tag_to_company", {"company_id": company_id, "tag_id": tag_id})
    run("detach_tag_from_company", {"company_id": company_id, "tag_id": tag_id})


def raw(connector: Connector, url: str, method: str = "GET", data: Any = None, **query: str) -> Any:
    """An endpoint no action calls, through Raw Request; the answer's body."""
    inputs = raw_inputs(url, method, data, **query)
    return connector.invoke("raw_request", inputs)["data"]["data"]


def raw_inputs(url: str, method: str = "GET", data: Any = None, **query: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {"url": url, "method": method}
    if data is not None:
        inputs["data"] = data
    if query:
        inputs["query_params"] = [{"key": k, "value": v} for k, v in query.items()]
    return inputs


def beyond_the_actions(connector: Connector) -> None:
    """What the connector's dropdowns and custom attributes rely on."""
    admin = raw(connector, "/admins")["admins"][1]
    raw(connector, "/admins", display_avatar="true")
    raw(connector, f"/admins/{admin['id']}")
    away = {"away_mode_enabled": True, "away_mode_reassign": False, "away_status_reason_id": 7}
    raw(connector, f"/admins/{admin['id']}/away", "PUT", away)
    team = raw(connector, "/teams")["teams"][0]
    raw(connector, f"/teams/{team['id']}")
    segments = raw(connector, "/segments", include_count="true")["segments"]
    raw(connector, "/segments")
    raw(connector, f"/segments/{segments[0]['id']}")
    raw(connector, "/ticket_states")
    enterprise = next(s for s in segments if s["name"] == "Enterprise companies")
    company = raw(connector, "/companies", segment_id=enterprise["id"])["data"][0]
    contact = raw(connector, f"/companies/{company['id']}/contacts")["data"][0]
    raw(connector, f"/companies/{company['id']}/segments")
    raw(connector, f"/contacts/{contact['id']}/companies")
    raw(connector, f"/contacts/{contact['id']}/tags")
    raw(connector, f"/contacts/{contact['id']}/segments")
    raw(connector, "/data_attributes")
    raw(connector, "/data_attributes", model="contact", include_archived="true")
    raw(connector, "/data_attributes", model="company")
    created = raw(connector, "/data_attributes", "POST", {
        "name": "Conformance band", "model": "company", "data_type": "options",
        "options": [{"value": "small"}, {"value": "large"}]})  # fmt: skip
    raw(connector, "/data_attributes", "POST",
        {"name": "Conformance", "model": "contact", "data_type": "integer"})  # fmt: skip
    raw(connector, f"/data_attributes/{created['id']}", "PUT",
        {"description": "Conformance", "archived": True})  # fmt: skip


def what_triggers_read(connector: Connector) -> None:
    """Conversations and ticket changes, and every polling trigger's reading of them."""
    contact = connector.invoke("create_contact", {"email": "talk@example.com"})["data"]
    opening = {"from": {"type": "user", "id": contact["id"]}, "body": "Help"}
    started = raw(connector, "/conversations", "POST", opening)
    path = f"/conversations/{started['conversation_id']}"
    admin = {"message_type": "comment", "type": "admin", "admin_id": "991267001", "body": "On it"}
    raw(connector, f"{path}/reply", "POST", admin)
    user = {"message_type": "comment", "type": "user", "intercom_user_id": contact["id"],
            "body": "Thanks"}  # fmt: skip
    raw(connector, f"{path}/reply", "POST", user)
    raw(connector, path)
    kind = connector.invoke("list_ticket_types", {})["data"]["data"][0]
    opened = {"ticket_type_id": kind["id"], "contact_id": contact["id"],
              "ticket_attributes": {"default_title": "Hi"}}  # fmt: skip
    ticket = connector.invoke("create_ticket", opened)["data"]
    state = kind["ticket_states"]["data"][-1]["id"]
    raw(connector, f"/tickets/{ticket['id']}", "PUT", {"ticket_state_id": state, "open": False})
    for trigger in load_manifest().triggers.values():
        # the scroll every_action opened is still open: companies' poll reads it as above
        if trigger.kind == "polling" and trigger.key != "new_or_updated_companies":
            connector.poll(trigger.key, {"start": "backfill", "backfill_days": 1}, None)


def error_cases(connector: Connector, sandbox: Sandbox, recording: RecordingTransport) -> None:
    """Answers Intercom documents as errors: 404s, a conflict, a bad search, a 401."""
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("get_contact", {"contact_id": "000000000000000000000000"}),
        ("get_company", {"company_id": "nope"}),
        ("delete_tag", {"tag_id": "999999"}),
        ("attach_company_to_contact", {"contact_id": "x", "company_id": "y"}),
        ("create_contact", {"email": "conflict@example.com"}),
        ("create_contact", {"email": "conflict@example.com"}),
        ("search_contacts", {"json_query": {"query": {"field": "name", "operator": "=",
                                                       "value": "x"},
                                             "sort": {"field": "name", "order": "desc"}}}),
        ("create_contact", {"email": "x@example.com", "custom_attributes": {"nope": "x"}}),
        ("raw_request", raw_inputs("/data_attributes", model="conversation")),
        ("raw_request", raw_inputs("/data_attributes", "POST", {"name": "plan_tier",
                                   "model": "contact", "data_type": "string"})),
        ("raw_request", raw_inputs("/data_attributes/999999", "PUT", {"archived": True})),
        ("raw_request", raw_inputs("/admins/999999")),
        ("raw_request", raw_inputs("/admins/991267002/away", "PUT", {"away_mode_enabled": True})),
        ("raw_request", raw_inputs("/teams/999999")),
        ("raw_request", raw_inputs("/segments/nope")),
        ("raw_request", raw_inputs("/contacts/nope/segments")),
        ("raw_request", raw_inputs("/contacts/nope/tags")),
        ("raw_request", raw_inputs("/contacts/nope/companies")),
        ("raw_request", raw_inputs("/companies/nope/segments")),
        ("raw_request", raw_inputs("/companies/nope/contacts")),
        ("get_conversation", {"conversation_id": "404"}),
        ("close_conversation", {"conversation_id": "100000001", "admin_id": "404"}),
        ("assign_conversation", {"conversation_id": "100000001", "admin_id": "991267001",
                                 "assignee_id": "404"}),
        ("reply_to_conversation", {"conversation_id": "100000001", "admin_id": "404",
                                   "body": "Hi"}),
        ("reply_to_conversation", {"conversation_id": "last", "reply_as": "contact",
                                   "contact_id": "nobody@example.com", "body": "Hi"}),
        ("attach_tag_to_conversation", {"conversation_id": "100000001", "tag_id": "404",
                                        "admin_id": "991267001"}),
        ("detach_tag_from_conversation", {"conversation_id": "100000001", "tag_id": "2",
                                          "admin_id": "991267001"}),
        ("update_conversation", {"conversation_id": "404", "read": True}),
        ("convert_conversation_to_ticket", {"conversation_id": "100000001",
                                            "ticket_type_id": "404"}),
        ("search_conversations", {"json_query": {"field": "nope", "operator": "=", "value": 1}}),
        ("update_ticket", {"ticket_id": "1001", "ticket_state_id": "404"}),
        ("update_ticket", {"ticket_id": "1001", "admin_id": "991267001", "assignee_id": "404"}),
        ("reply_to_ticket", {"ticket_id": "404", "admin_id": "991267001", "body": "Hi"}),
        ("delete_ticket", {"ticket_id": "404"}),
        ("search_tickets", {"json_query": {"field": "open", "operator": "~", "value": "x"}}),
        ("get_note", {"note_id": "999999"}),
        ("create_note", {"contact_id": "nope", "body": "x"}),
        ("get_article", {"article_id": "1"}),
        ("create_article", {"title": "x", "author_id": "1"}),
        ("list_events", {"email": "nobody@example.com"}),
        ("raw_request", raw_inputs("/events", type="visitor", email="x@example.com")),
        ("submit_event", {"event_name": "x", "user_id": "nobody"}),
        ("merge_contacts", {"lead_contact_id": "nope", "user_contact_id": "nope"}),
        ("find_contact_by_external_id", {"external_id": "nobody"}),
        ("get_admin", {"admin_id": "1"}),
        ("send_message", {"admin_id": "1", "contact_id": "nope", "body": "x"}),
    ]  # fmt: skip
    for action, inputs in attempts:
        with contextlib.suppress(ConnectorError):
            connector.invoke(action, inputs)
    bad = {"type": "access_token", "access_token": "wrong", "base_url": sandbox.base_url}
    with Connector(bad, transport=recording) as stranger, pytest.raises(ConnectorError):
        stranger.invoke("list_tags", {})


def test_every_success_answer_conforms(
    traffic: tuple[Connector, RecordingTransport, Sandbox], openapi: Any
) -> None:
    connector, recording, _ = traffic
    every_action(connector)
    beyond_the_actions(connector)
    what_triggers_read(connector)
    assert len(recording.exchanges) >= 50
    seen = set()
    for request, response in recording.exchanges:
        assert response.is_success, (request.method, request.url, response.text)
        seen.add((request.method, request.url.path.split("/")[1]))
        errors = list(
            openapi.iter_response_errors(
                HttpxOpenAPIRequest(request), HttpxOpenAPIResponse(response)
            )
        )
        causes = [f"{e}: {e.__cause__}" for e in errors]
        assert not errors, f"{request.method} {request.url}: {causes}"
    assert {path for _, path in seen} >= {
        "contacts",
        "companies",
        "tags",
        "tickets",
        "ticket_types",
        "me",
        "data_attributes",
        "admins",
        "teams",
        "segments",
        "ticket_states",
        "conversations",
    }


def test_every_error_answer_is_an_error_list(
    traffic: tuple[Connector, RecordingTransport, Sandbox], spec_document: dict[str, Any]
) -> None:
    connector, recording, sandbox = traffic
    error_cases(connector, sandbox, recording)
    validator = OAS30Validator(spec_document["components"]["schemas"]["error"])
    failures = [(q, r) for q, r in recording.exchanges if not r.is_success]
    statuses = sorted({r.status_code for _, r in failures})
    assert statuses == [400, 401, 404, 409, 422]
    for _, response in failures:
        validator.validate(response.json())
        assert response.json()["errors"][0]["code"]
        if response.status_code == 401:
            assert "X-RateLimit-Limit" not in response.headers
        else:
            assert response.headers["X-RateLimit-Remaining"].isdigit()
