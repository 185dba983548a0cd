"""Every action through the shim: the request Intercom receives, and what the flow gets back.

Each request is also checked against the official OpenAPI description (skipped, with the
reason, when ../shared is absent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import pytest
from support import TOKEN, Recorder, body_of, query_of

from intercom_connector import Connector
from intercom_connector.runtime.manifest import load_manifest

CONTACT_ID = "6657a1b2c3d4e5f6a7b8c9d0"
COMPANY_ID = "6762f0761bb69f9f2193bae2"
CONTACT = {"type": "contact", "id": CONTACT_ID, "email": "ada@example.com", "role": "user"}
COMPANY = {"type": "company", "id": COMPANY_ID, "company_id": "acme", "name": "Acme"}
TAG = {"type": "tag", "id": "102", "name": "VIP"}
TICKET = {"type": "ticket", "id": "494", "ticket_id": "12", "ticket_type": {"id": "88"}}
CONVERSATION_ID = "215469875645312"
ADMIN_ID = "991267593"
CONVERSATION = {"type": "conversation", "id": CONVERSATION_ID, "state": "open", "open": True}
CONVERSATIONS = {
    "type": "conversation.list",
    "conversations": [CONVERSATION],
    "total_count": 1,
    "pages": {"type": "pages", "page": 1, "per_page": 20, "total_pages": 1},
}
OPEN_OF_CONTACT = {
    "operator": "AND",
    "value": [
        {"field": "open", "operator": "=", "value": True},
        {"field": "contact_ids", "operator": "=", "value": CONTACT_ID},
    ],
}
AUTHOR_ID = "991267001"
LEAD_ID = "6657a1b2c3d4e5f6a7b8c9d1"
ADMIN = {"type": "admin", "id": AUTHOR_ID, "name": "Ada", "email": "ada@sandbox.example"}
NOTE = {"type": "note", "id": "17495962", "body": "Renewal in March", "author": ADMIN}
EVENT = {"type": "event", "event_name": "invited-friend", "created_at": 1714521600}
TEAM = {"type": "team", "id": "991268001", "name": "Support", "admin_ids": [991267001]}
SEGMENT = {
    "type": "segment",
    "id": "5e8e0b3f4b2a1c0012345678",
    "name": "VIP",
    "person_type": "user",
}
ATTRIBUTE = {"type": "data_attribute", "id": 12, "model": "company", "name": "tier"}
ARTICLE = {"type": "article", "id": "9331001", "title": "Welcome", "state": "draft"}
COLLECTION = {"type": "collection", "id": "2713580", "name": "Getting started"}


def contact_page(ids: list[str], next_cursor: str | None = None, per_page: int = 15) -> dict:
    pages: dict[str, Any] = {"type": "pages", "page": 1, "per_page": per_page, "total_pages": 3}
    if next_cursor:
        pages["next"] = {"per_page": per_page, "starting_after": next_cursor}
    return {
        "type": "list",
        "data": [{"type": "contact", "id": i} for i in ids],
        "total_count": 99,
        "pages": pages,
    }


@dataclass
class Case:
    """One action call: the inputs, Intercom's answer, the request expected and the result."""

    action: str
    inputs: dict[str, Any]
    method: str
    path: str
    answer: Any
    body: Any = None
    query: dict[str, list[str]] = field(default_factory=dict)
    result: Any = None
    #: requests made before the one under test, to learn what it needs: (method, path, answer)
    lookups: list[tuple[str, str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.action


CASES = [
    Case(
        "archive_contact",
        {"contact_id": CONTACT_ID},
        "POST",
        f"/contacts/{CONTACT_ID}/archive",
        {"type": "contact", "id": CONTACT_ID, "archived": True},
    ),
    Case(
        "unarchive_contact",
        {"contact_id": CONTACT_ID},
        "POST",
        f"/contacts/{CONTACT_ID}/unarchive",
        {"type": "contact", "id": CONTACT_ID, "archived": False},
    ),
    Case(
        "attach_company_to_contact",
        {"contact_id": CONTACT_ID, "company_id": COMPANY_ID},
        "POST",
        f"/contacts/{CONTACT_ID}/companies",
        COMPANY,
        body={"id": COMPANY_ID},
    ),
    Case(
        "detach_company_from_contact",
        {"contact_id": CONTACT_ID, "company_id": COMPANY_ID},
        "DELETE",
        f"/contacts/{CONTACT_ID}/companies/{COMPANY_ID}",
        COMPANY,
    ),
    Case(
        "attach_tag_to_contact",
        {"contact_id": CONTACT_ID, "tag_id": 102},
        "POST",
        f"/contacts/{CONTACT_ID}/tags",
        TAG,
        body={"id": "102"},  # an id that looks numeric is still sent as a string
    ),
    Case(
        "detach_tag_from_contact",
        {"contact_id": CONTACT_ID, "tag_id": "102"},
        "DELETE",
        f"/contacts/{CONTACT_ID}/tags/102",
        TAG,
    ),
    Case(
        "create_company",
        {
            "company_id": "acme",
            "name": "Acme",
            "remote_created_at": "2024-05-01T00:00:00Z",
            "monthly_spend": "120",
            "size": 15,
            "plan": "Pro",
            "website": "https://acme.example",
            "industry": "Anvils",
            "custom_attributes": '{"region": "EMEA"}',
        },
        "POST",
        "/companies",
        COMPANY,
        body={
            "company_id": "acme",
            "name": "Acme",
            "remote_created_at": 1714521600,
            "monthly_spend": 120,
            "size": 15,
            "plan": "Pro",
            "website": "https://acme.example",
            "industry": "Anvils",
            "custom_attributes": {"region": "EMEA"},
        },
    ),
    Case(
        "update_company",
        {"company_id": COMPANY_ID, "name": "Acme Ltd", "size": "20"},
        "PUT",
        f"/companies/{COMPANY_ID}",
        COMPANY,
        body={"name": "Acme Ltd", "size": 20},
    ),
    Case("get_company", {"company_id": COMPANY_ID}, "GET", f"/companies/{COMPANY_ID}", COMPANY),
    Case(
        "delete_company",
        {"company_id": COMPANY_ID},
        "DELETE",
        f"/companies/{COMPANY_ID}",
        {"id": COMPANY_ID, "object": "company", "deleted": True},
    ),
    Case(
        "create_contact",
        {
            "email": "ada@example.com",
            "role": "lead",
            "external_id": 42,
            "name": "Ada",
            "phone": "+44 20 7946 0000",
            "avatar": "https://example.com/ada.png",
            "signed_up_at": "1700000000",
            "last_seen_at": "2024-01-01T12:00:00+01:00",
            "custom_attributes": {"plan_tier": "gold"},
        },
        "POST",
        "/contacts",
        CONTACT,
        body={
            "email": "ada@example.com",
            "role": "lead",
            "external_id": "42",
            "name": "Ada",
            "phone": "+44 20 7946 0000",
            "avatar": "https://example.com/ada.png",
            "signed_up_at": 1700000000,
            "last_seen_at": 1704106800,
            "unsubscribed_from_emails": False,
            "custom_attributes": {"plan_tier": "gold"},
        },
    ),
    Case(
        "update_contact",
        {"contact_id": CONTACT_ID, "name": "Ada Lovelace"},
        "PUT",
        f"/contacts/{CONTACT_ID}",
        CONTACT,
        body={"name": "Ada Lovelace"},  # unsubscribed_from_emails is left alone
    ),
    Case("get_contact", {"contact_id": CONTACT_ID}, "GET", f"/contacts/{CONTACT_ID}", CONTACT),
    Case(
        "delete_contact",
        {"contact_id": CONTACT_ID},
        "DELETE",
        f"/contacts/{CONTACT_ID}",
        {"type": "contact", "id": CONTACT_ID, "deleted": True},
    ),
    Case(
        "list_contacts",
        {"per_page": "2"},
        "GET",
        "/contacts",
        contact_page(["a", "b"], "cur-1", per_page=2),
        query={"per_page": ["2"]},
    ),
    Case(
        "search_contacts",
        {"email": "ada@example.com", "role": "user"},
        "POST",
        "/contacts/search",
        contact_page(["a"]),
        body={
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "role", "operator": "=", "value": "user"},
                    {"field": "email", "operator": "=", "value": "ada@example.com"},
                ],
            },
            "pagination": {"per_page": 15},
        },
    ),
    Case(
        "list_companies",
        {"page": 2, "per_page": 10, "order": "asc"},
        "POST",
        "/companies/list",
        {
            "type": "list",
            "data": [COMPANY],
            "total_count": 25,
            "pages": {"type": "pages", "page": 2, "per_page": 10, "total_pages": 3},
        },
        query={"page": ["2"], "per_page": ["10"], "order": ["asc"]},
        result={
            "type": "list",
            "data": [COMPANY],
            "total_count": 25,
            "pages": {
                "type": "pages",
                "page": 2,
                "per_page": 10,
                "total_pages": 3,
                "next": {"per_page": 10, "starting_after": "3"},
            },
        },
    ),
    Case("create_tag", {"name": "VIP"}, "POST", "/tags", TAG, body={"name": "VIP"}),
    Case(
        "update_tag",
        {"tag_id": "102", "name": "Very VIP"},
        "POST",
        "/tags",
        TAG,
        body={"id": "102", "name": "Very VIP"},
    ),
    Case(
        "delete_tag",
        {"tag_id": "102"},
        "DELETE",
        "/tags/102",
        None,
        result={"id": "102", "deleted": True},
    ),
    Case("list_tags", {}, "GET", "/tags", {"type": "list", "data": [TAG]}),
    Case(
        "list_ticket_types",
        {},
        "GET",
        "/ticket_types",
        {"type": "list", "data": [{"type": "ticket_type", "id": "88", "name": "Bug"}]},
    ),
    Case(
        "create_ticket",
        {
            "ticket_type_id": "88",
            "contact_id": "ada@example.com",
            "company_id": COMPANY_ID,
            "ticket_attributes": '{"default_title": "Broken", "default_description": "It is"}',
        },
        "POST",
        "/tickets",
        TICKET,
        body={
            "ticket_type_id": "88",
            "contacts": [{"email": "ada@example.com"}],
            "company_id": COMPANY_ID,
            "ticket_attributes": {"_default_title_": "Broken", "_default_description_": "It is"},
        },
    ),
    # Notes, data events, admins, teams, segments, data attributes, articles, messages
    Case(
        "create_note",
        {"contact_id": CONTACT_ID, "body": "Called about the renewal", "admin_id": AUTHOR_ID},
        "POST",
        f"/contacts/{CONTACT_ID}/notes",
        NOTE,
        body={"body": "Called about the renewal", "admin_id": AUTHOR_ID},
    ),
    Case(
        "list_notes",
        {"contact_id": CONTACT_ID, "per_page": 5},
        "GET",
        f"/contacts/{CONTACT_ID}/notes",
        {
            "type": "list",
            "data": [NOTE],
            "total_count": 1,
            "pages": {"type": "pages", "page": 1, "per_page": 5, "total_pages": 1},
        },
        query={"page": ["1"], "per_page": ["5"]},
    ),
    Case("get_note", {"note_id": "17495962"}, "GET", "/notes/17495962", NOTE),
    Case(
        "create_company_note",
        {"company_id": COMPANY_ID, "body": "Renewal in March"},
        "POST",
        f"/companies/{COMPANY_ID}/notes",
        NOTE,
        body={"body": "Renewal in March"},
    ),
    Case(
        "submit_event",
        {
            "event_name": "invited-friend",
            "created_at": "2024-05-01T00:00:00Z",
            "user_id": "crm-1042",
            "metadata": '{"invite_code": "ADDAFRIEND"}',
        },
        "POST",
        "/events",
        None,
        body={
            "event_name": "invited-friend",
            "created_at": 1714521600,
            "user_id": "crm-1042",
            "metadata": {"invite_code": "ADDAFRIEND"},
        },
        result={
            "type": "event",
            "event_name": "invited-friend",
            "created_at": 1714521600,
            "user_id": "crm-1042",
            "metadata": {"invite_code": "ADDAFRIEND"},
        },
    ),
    Case(
        "list_events",
        {"contact_id": CONTACT_ID, "per_page": 2},
        "GET",
        "/events",
        {"type": "event.list", "events": [EVENT], "pages": {}},
        query={"type": ["user"], "intercom_user_id": [CONTACT_ID], "per_page": ["2"]},
    ),
    Case(
        "list_event_summaries",
        {"email": "ada@example.com"},
        "GET",
        "/events",
        {
            "type": "event.summary",
            "email": "ada@example.com",
            "events": [{"name": "invited-friend", "count": 1}],
        },
        query={"type": ["user"], "email": ["ada@example.com"], "summary": ["true"]},
    ),
    Case("list_admins", {}, "GET", "/admins", {"type": "admin.list", "admins": [ADMIN]}),
    Case("get_admin", {"admin_id": AUTHOR_ID}, "GET", f"/admins/{AUTHOR_ID}", ADMIN),
    Case("identify_admin", {}, "GET", "/me", {**ADMIN, "app": {"type": "app", "region": "US"}}),
    Case(
        "set_admin_away",
        {"admin_id": AUTHOR_ID, "away_mode_reassign": "true"},
        "PUT",
        f"/admins/{AUTHOR_ID}/away",
        {**ADMIN, "away_mode_enabled": True},
        body={"away_mode_enabled": True, "away_mode_reassign": True},
    ),
    Case("list_teams", {}, "GET", "/teams", {"type": "team.list", "teams": [TEAM]}),
    Case("get_team", {"team_id": TEAM["id"]}, "GET", f"/teams/{TEAM['id']}", TEAM),
    Case(
        "list_segments",
        {"include_count": True},
        "GET",
        "/segments",
        {"type": "segment.list", "segments": [{**SEGMENT, "count": 3}]},
        query={"include_count": ["true"]},
    ),
    Case(
        "get_segment", {"segment_id": SEGMENT["id"]}, "GET", f"/segments/{SEGMENT['id']}", SEGMENT
    ),
    Case(
        "list_contact_segments",
        {"contact_id": CONTACT_ID},
        "GET",
        f"/contacts/{CONTACT_ID}/segments",
        {"type": "list", "data": [SEGMENT]},
    ),
    Case(
        "list_data_attributes",
        {"model": "company"},
        "GET",
        "/data_attributes",
        {"type": "list", "data": [ATTRIBUTE]},
        query={"model": ["company"], "include_archived": ["false"]},
    ),
    Case(
        "create_data_attribute",
        {
            "name": "tier",
            "model": "company",
            "data_type": "options",
            "options": '["bronze", "gold"]',
            "description": "Support tier",
        },
        "POST",
        "/data_attributes",
        ATTRIBUTE,
        body={
            "name": "tier",
            "model": "company",
            "data_type": "options",
            "description": "Support tier",
            "options": [{"value": "bronze"}, {"value": "gold"}],
        },
    ),
    Case(
        "update_data_attribute",
        {"data_attribute_id": "12", "archived": "true", "description": "Gone"},
        "PUT",
        "/data_attributes/12",
        ATTRIBUTE,
        body={"description": "Gone", "archived": True},
    ),
    Case(
        "list_articles",
        {"page": 2},
        "GET",
        "/articles",
        {
            "type": "list",
            "data": [ARTICLE],
            "total_count": 16,
            "pages": {"type": "pages", "page": 2, "per_page": 15, "total_pages": 2},
        },
        query={"page": ["2"], "per_page": ["15"]},
    ),
    Case(
        "get_article", {"article_id": ARTICLE["id"]}, "GET", f"/articles/{ARTICLE['id']}", ARTICLE
    ),
    Case(
        "create_article",
        {
            "title": "Welcome",
            "body": "# Hi\n\nStart *here*.",
            "body_format": "markdown",
            "author_id": AUTHOR_ID,
            "collection_id": "2713580",
        },
        "POST",
        "/articles",
        ARTICLE,
        body={
            "title": "Welcome",
            "body_markdown": "# Hi\n\nStart *here*.",
            "author_id": int(AUTHOR_ID),
            "state": "draft",
            "parent_id": 2713580,
            "parent_type": "collection",
        },
    ),
    Case(
        "update_article",
        {
            "article_id": ARTICLE["id"],
            "body": "<p>New</p>",
            "state": "published",
            "collection_id": "2713581",
        },
        "PUT",
        f"/articles/{ARTICLE['id']}",
        ARTICLE,
        body={
            "body": "<p>New</p>",
            "state": "published",
            "parent_id": "2713581",
            "parent_type": "collection",
        },
    ),
    Case(
        "delete_article",
        {"article_id": ARTICLE["id"]},
        "DELETE",
        f"/articles/{ARTICLE['id']}",
        {"id": ARTICLE["id"], "object": "article", "deleted": True},
    ),
    Case(
        "search_articles",
        {"phrase": "welcome"},
        "GET",
        "/articles/search",
        {"type": "list", "total_count": 1, "data": {"articles": [ARTICLE]}},
        query={"phrase": ["welcome"], "state": ["published"]},
    ),
    Case(
        "list_collections",
        {},
        "GET",
        "/help_center/collections",
        {
            "type": "list",
            "data": [COLLECTION],
            "total_count": 1,
            "pages": {"type": "pages", "page": 1, "per_page": 15, "total_pages": 1},
        },
        query={"page": ["1"], "per_page": ["15"]},
    ),
    Case(
        "send_message",
        {
            "message_type": "email",
            "admin_id": AUTHOR_ID,
            "contact_id": CONTACT_ID,
            "subject": "Welcome",
            "body": "<p>Hi Ada</p>",
        },
        "POST",
        "/messages",
        {
            "type": "admin_message",
            "id": "19",
            "created_at": 1734537786,
            "subject": "Welcome",
            "body": "<p>Hi Ada</p>",
            "message_type": "email",
        },
        body={
            "message_type": "email",
            "from": {"type": "admin", "id": int(AUTHOR_ID)},
            "to": {"type": "user", "id": CONTACT_ID},
            "subject": "Welcome",
            "body": "<p>Hi Ada</p>",
            "template": "plain",
        },
    ),
    Case(
        "find_contact_by_external_id",
        {"external_id": "crm 42"},
        "GET",
        "/contacts/find_by_external_id/crm%2042",
        CONTACT,
    ),
    Case(
        "merge_contacts",
        {"lead_contact_id": LEAD_ID, "user_contact_id": CONTACT_ID},
        "POST",
        "/contacts/merge",
        CONTACT,
        body={"from": LEAD_ID, "into": CONTACT_ID, "skip_duplicate_validation": False},
    ),
    Case(
        "block_contact",
        {"contact_id": CONTACT_ID},
        "POST",
        f"/contacts/{CONTACT_ID}/block",
        {"type": "contact", "id": CONTACT_ID, "blocked": True},
    ),
    Case(
        "list_contact_subscriptions",
        {"contact_id": CONTACT_ID},
        "GET",
        f"/contacts/{CONTACT_ID}/subscriptions",
        {
            "type": "list",
            "data": [{"type": "subscription", "id": "1001", "consent_type": "opt_out"}],
        },
    ),
    Case(
        "attach_tag_to_company",
        {"company_id": COMPANY_ID, "tag_id": "102"},
        "POST",
        "/tags",
        TAG,
        body={"name": "VIP", "companies": [{"id": COMPANY_ID}]},
        lookups=[("GET", "/tags/102", TAG)],
    ),
    Case(
        "detach_tag_from_company",
        {"company_id": COMPANY_ID, "tag_id": "102"},
        "POST",
        "/tags",
        TAG,
        body={"name": "VIP", "companies": [{"id": COMPANY_ID, "untag": True}]},
        lookups=[("GET", "/tags/102", TAG)],
    ),
    Case(
        "list_company_segments",
        {"company_id": COMPANY_ID},
        "GET",
        f"/companies/{COMPANY_ID}/segments",
        {"type": "list", "data": [SEGMENT]},
    ),
    Case("get_ticket", {"ticket_id": "494"}, "GET", "/tickets/494", TICKET),
    Case(
        "list_contact_tags",
        {"contact_id": CONTACT_ID},
        "GET",
        f"/contacts/{CONTACT_ID}/tags",
        {"type": "list", "data": [TAG]},
    ),
    Case(
        "list_contact_companies",
        {"contact_id": CONTACT_ID},
        "GET",
        f"/contacts/{CONTACT_ID}/companies",
        {"type": "list", "data": [COMPANY], "total_count": 1, "pages": {"type": "pages"}},
    ),
    Case(
        "list_company_contacts",
        {"company_id": COMPANY_ID, "page": "2"},
        "GET",
        f"/companies/{COMPANY_ID}/contacts",
        {
            "type": "list",
            "data": [CONTACT],
            "total_count": 16,
            "pages": {"type": "pages", "page": 2, "per_page": 15, "total_pages": 2},
        },
        query={"page": ["2"], "per_page": ["15"]},
        result={
            "type": "list",
            "data": [CONTACT],
            "total_count": 16,
            "pages": {"type": "pages", "page": 2, "per_page": 15, "total_pages": 2},
        },
    ),
    Case(
        "raw_request",
        {
            "url": "/contacts",
            "method": "POST",
            "data": '{"email": "raw@example.com"}',
            "headers": [{"key": "X-Trace", "value": "abc"}],
            "query_params": {"include_merge_history": "false"},
        },
        "POST",
        "/contacts",
        CONTACT,
        body={"email": "raw@example.com"},
        query={"include_merge_history": ["false"]},
        result={"status": 200, "data": CONTACT},
    ),
    Case(
        "list_conversations",
        {"per_page": "20"},
        "GET",
        "/conversations",
        CONVERSATIONS,
        query={"per_page": ["20"]},
    ),
    Case(
        "get_conversation",
        {"conversation_id": CONVERSATION_ID, "display_as": "plaintext"},
        "GET",
        f"/conversations/{CONVERSATION_ID}",
        CONVERSATION,
        query={"display_as": ["plaintext"]},
    ),
    Case(
        "search_conversations",
        {"json_query": OPEN_OF_CONTACT, "per_page": 50},
        "POST",
        "/conversations/search",
        CONVERSATIONS,
        body={"query": OPEN_OF_CONTACT, "pagination": {"per_page": 50}},
    ),
    Case(
        "create_conversation",
        {
            "contact_id": CONTACT_ID,
            "body": "My invoice is wrong",
            "attachment_urls": "https://example.com/invoice.png",
        },
        "POST",
        "/conversations",
        {"type": "user_message", "id": "403918330", "conversation_id": CONVERSATION_ID},
        body={
            "from": {"type": "user", "id": CONTACT_ID},
            "body": "My invoice is wrong",
            "attachment_urls": ["https://example.com/invoice.png"],
        },
    ),
    Case(
        "reply_to_conversation",
        {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID, "body": "On it"},
        "POST",
        f"/conversations/{CONVERSATION_ID}/reply",
        CONVERSATION,
        body={"message_type": "comment", "type": "admin", "admin_id": ADMIN_ID, "body": "On it"},
    ),
    Case(
        "assign_conversation",
        {
            "conversation_id": CONVERSATION_ID,
            "admin_id": ADMIN_ID,
            "team_id": 814,
            "body": "Billing knows this one",
        },
        "POST",
        f"/conversations/{CONVERSATION_ID}/parts",
        CONVERSATION,
        body={
            "message_type": "assignment",
            "type": "team",
            "admin_id": ADMIN_ID,
            "assignee_id": "814",
            "body": "Billing knows this one",
        },
    ),
    Case(
        "close_conversation",
        {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID},
        "POST",
        f"/conversations/{CONVERSATION_ID}/parts",
        CONVERSATION,
        body={"message_type": "close", "type": "admin", "admin_id": ADMIN_ID},
    ),
    Case(
        "open_conversation",
        {"conversation_id": CONVERSATION_ID, "admin_id": ADMIN_ID},
        "POST",
        f"/conversations/{CONVERSATION_ID}/parts",
        CONVERSATION,
        body={"message_type": "open", "admin_id": ADMIN_ID},
    ),
    Case(
        "snooze_conversation",
        {
            "conversation_id": CONVERSATION_ID,
            "admin_id": ADMIN_ID,
            "snoozed_until": "2030-01-31T09:00:00Z",
        },
        "POST",
        f"/conversations/{CONVERSATION_ID}/parts",
        CONVERSATION,
        body={"message_type": "snoozed", "admin_id": ADMIN_ID, "snoozed_until": 1896080400},
    ),
    Case(
        "attach_tag_to_conversation",
        {"conversation_id": CONVERSATION_ID, "tag_id": "102", "admin_id": ADMIN_ID},
        "POST",
        f"/conversations/{CONVERSATION_ID}/tags",
        TAG,
        body={"id": "102", "admin_id": ADMIN_ID},
    ),
    Case(
        "detach_tag_from_conversation",
        {"conversation_id": CONVERSATION_ID, "tag_id": "102", "admin_id": ADMIN_ID},
        "DELETE",
        f"/conversations/{CONVERSATION_ID}/tags/102",
        TAG,
        body={"admin_id": ADMIN_ID},
    ),
    Case(
        "update_conversation",
        {
            "conversation_id": CONVERSATION_ID,
            "read": "true",
            "title": "Wrong invoice",
            "custom_attributes": '{"issue_type": "Billing"}',
        },
        "PUT",
        f"/conversations/{CONVERSATION_ID}",
        CONVERSATION,
        body={
            "read": True,
            "title": "Wrong invoice",
            "custom_attributes": {"issue_type": "Billing"},
        },
    ),
    Case(
        "convert_conversation_to_ticket",
        {
            "conversation_id": CONVERSATION_ID,
            "ticket_type_id": "88",
            "ticket_attributes": {"default_title": "Wrong invoice"},
        },
        "POST",
        f"/conversations/{CONVERSATION_ID}/convert",
        TICKET,
        body={"ticket_type_id": "88", "attributes": {"_default_title_": "Wrong invoice"}},
    ),
    Case(
        "update_ticket",
        {
            "ticket_id": "494",
            "ticket_state_id": "8269",
            "assignee_id": "991267594",
            "admin_id": ADMIN_ID,
            "is_shared": "false",
        },
        "PUT",
        "/tickets/494",
        TICKET,
        body={
            "ticket_state_id": "8269",
            "is_shared": False,
            "assignee_id": "991267594",
            "admin_id": 991267593,  # the one admin id Intercom types as a number
        },
    ),
    Case(
        "search_tickets",
        {"json_query": {"field": "open", "operator": "=", "value": True}},
        "POST",
        "/tickets/search",
        {"type": "ticket.list", "tickets": [TICKET], "total_count": 1, "pages": {"type": "pages"}},
        body={
            "query": {"field": "open", "operator": "=", "value": True},
            "pagination": {"per_page": 15},
        },
    ),
    Case(
        "reply_to_ticket",
        {"ticket_id": "494", "admin_id": ADMIN_ID, "message_type": "note", "body": "Escalated"},
        "POST",
        "/tickets/494/reply",
        {"type": "ticket_part", "id": "156", "part_type": "note", "body": "<p>Escalated</p>"},
        body={"message_type": "note", "type": "admin", "admin_id": ADMIN_ID, "body": "Escalated"},
    ),
    Case(
        "list_ticket_states",
        {},
        "GET",
        "/ticket_states",
        {"type": "list", "data": [{"type": "ticket_state", "id": "8269", "category": "submitted"}]},
    ),
    Case(
        "delete_ticket",
        {"ticket_id": "494"},
        "DELETE",
        "/tickets/494",
        {"id": "494", "object": "ticket", "deleted": True},
    ),
]


def test_every_handler_has_a_case() -> None:
    """A handler's Python is pinned down by a case here; an action declared as a request is
    run from the manifest by tests/test_scenarios.py, its request checked against the spec."""
    actions = load_manifest().actions
    assert {c.action for c in CASES} <= set(actions)
    assert {key for key, action in actions.items() if action.handler} <= {c.action for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_action_sends_the_documented_request(
    case: Case, recorder: Recorder, connector: Connector
) -> None:
    recorder.on(case.method, case.path, case.answer)
    for method, path, answer in case.lookups:
        recorder.on(method, path, answer)

    result = connector.invoke(case.action, case.inputs)

    request = recorder.last
    looked_up = [(r.method, r.url.raw_path.decode()) for r in recorder.requests[:-1]]
    assert looked_up == [(method, path) for method, path, _ in case.lookups]
    assert (request.method, request.url.raw_path.decode().split("?")[0]) == (case.method, case.path)
    assert request.url.host == "api.intercom.io"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Intercom-Version"] == "2.16"
    assert request.headers["Accept"] == "application/json"
    assert body_of(request) == case.body
    assert query_of(request) == case.query
    expected = case.answer if case.result is None else case.result
    if case.action == "raw_request":
        assert result["data"]["status"] == expected["status"]
        assert result["data"]["data"] == expected["data"]
    else:
        assert result == {"data": expected}


@pytest.mark.spec
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_action_request_conforms_to_the_official_spec(
    case: Case,
    recorder: Recorder,
    connector: Connector,
    assert_conforms: Callable[[httpx.Request], None],
) -> None:
    recorder.on(case.method, case.path, case.answer)
    for method, path, answer in case.lookups:
        recorder.on(method, path, answer)
    connector.invoke(case.action, case.inputs)
    for request in recorder.requests:
        assert_conforms(request)


@pytest.mark.spec
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/tickets", {"ticket_type_id": 88, "contacts": [{"id": "1"}]}),
        ("POST", "/contacts/search", {"query": {"field": "email", "operator": "LIKE", "value": 1}}),
        ("PUT", "/companies/1", {"monthly_spend": 9.5}),
        ("POST", "/tags", {"id": "1"}),
        ("POST", "/tags", {"name": "x", "companies": "acme"}),
        ("POST", "/tags", {"name": "x", "companies": [{"id": "1", "untag": True}, {"id": "2"}]}),
        ("PUT", "/data_attributes/1", {"options": "gold"}),
        ("POST", "/contacts/6657a1b2c3d4e5f6a7b8c9d0/notes", {"admin_id": "1"}),
        ("GET", "/events?type=user&intercom_user_id=a&email=b", None),
        ("GET", "/events?type=user", None),
        (
            "POST",
            "/events",
            {"event_name": "x", "created_at": 1, "id": "a", "metadata": {"a": [1]}},
        ),
    ],
)
def test_the_conformance_check_catches_requests_that_break_the_spec(
    method: str, path: str, body: Any, assert_conforms: Callable[[httpx.Request], None]
) -> None:
    request = httpx.Request(method, f"https://api.intercom.io{path}", json=body)
    with pytest.raises(AssertionError, match="breaks the spec"):
        assert_conforms(request)


def spec_operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    # a literal path (/articles/search) before a template it also fits (/articles/{id})
    for template, operations in sorted(document["paths"].items(), key=lambda p: "{" in p[0]):
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in operations:
            operation: dict[str, Any] = operations[method.lower()]
            return operation
    raise AssertionError(f"{method} {path} is not in the spec")


#: actions whose output the description's example answers do not show, and why
SPEC_EXAMPLE_QUIRKS: dict[str, str] = {}


@pytest.mark.spec
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.action not in ("raw_request", "delete_tag")], ids=lambda c: c.id
)
def test_output_schema_accepts_the_spec_examples(case: Case, spec_document: dict[str, Any]) -> None:
    if case.action in SPEC_EXAMPLE_QUIRKS:
        pytest.skip(SPEC_EXAMPLE_QUIRKS[case.action])
    operation = spec_operation(spec_document, case.method, case.path)
    if "200" not in operation["responses"]:
        pytest.skip(
            f"{case.method} {case.path} answers with no body (its output is the connector's)"
        )
    content = operation["responses"]["200"]["content"]["application/json"]
    examples = [example["value"] for example in content.get("examples", {}).values()]
    if not examples:
        pytest.skip(f"the spec gives no example answer for {case.method} {case.path}")
    schema = load_manifest().output_schema(load_manifest().action(case.action).output)
    for example in examples:
        jsonschema.validate(example, schema)
