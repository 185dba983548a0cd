"""Known traps, seen in peers' Intercom connectors: one test each."""

from __future__ import annotations

import httpx
from support import Recorder, body_of, query_of

from intercom_connector import Connector

TICKET = {"type": "ticket", "id": "1"}


def test_create_ticket_sends_snake_case_attributes_with_intercoms_default_keys(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/tickets", TICKET)
    connector.invoke(
        "create_ticket",
        {
            "ticket_type_id": "7",
            "contact_id": "crm-42",
            "ticket_attributes": {"default_title": "T", "_default_description_": "D", "x": 1},
        },
    )
    body = body_of(recorder.last)
    assert "ticketAttributes" not in body
    assert body["ticket_attributes"] == {
        "_default_title_": "T",
        "_default_description_": "D",
        "x": 1,
    }
    assert body["contacts"] == [{"external_id": "crm-42"}]


def test_search_cursor_travels_in_the_body(recorder: Recorder, connector: Connector) -> None:
    recorder.on("POST", "/contacts/search", {"type": "list", "data": [], "pages": {}})
    connector.invoke("search_contacts", {"name": "Ada", "starting_after": "WzE3MF0="})
    assert body_of(recorder.last)["pagination"]["starting_after"] == "WzE3MF0="
    assert query_of(recorder.last) == {}


def test_fetch_all_keeps_the_callers_filters(recorder: Recorder, connector: Connector) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        pages = {"type": "pages", "page": number, "per_page": 5, "total_pages": 2}
        return httpx.Response(200, json={"type": "list", "data": [{"id": number}], "pages": pages})

    recorder.respond("GET", "/companies", page)
    connector.invoke("list_companies", {"fetch_all": True, "segment_id": "s1", "per_page": 5})
    assert [query_of(r) for r in recorder.requests] == [
        {"segment_id": ["s1"], "per_page": ["5"], "page": ["1"]},
        {"segment_id": ["s1"], "per_page": ["5"], "page": ["2"]},
    ]


def test_companies_page_by_number_not_by_cursor(recorder: Recorder, connector: Connector) -> None:
    pages = {"type": "pages", "page": 3, "per_page": 15, "total_pages": 4}
    recorder.on("POST", "/companies/list", {"type": "list", "data": [], "pages": pages})
    result = connector.invoke("list_companies", {"starting_after": "3"})
    assert query_of(recorder.last) == {"page": ["3"], "per_page": ["15"], "order": ["desc"]}
    assert result["data"]["pages"]["next"]["starting_after"] == "4"


def test_company_paths_take_intercoms_id(recorder: Recorder, connector: Connector) -> None:
    recorder.on("PUT", "/companies/6762f0761bb69f9f2193bae2", {"type": "company"})
    connector.invoke("update_company", {"company_id": "6762f0761bb69f9f2193bae2", "name": "Acme"})
    assert "company_id" not in body_of(recorder.last)  # cannot change the key you set


def test_update_tag_is_a_post_to_tags_with_id_and_name(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/tags", {"type": "tag", "id": "5", "name": "New"})
    connector.invoke("update_tag", {"tag_id": "5", "name": "New"})
    assert (recorder.last.method, recorder.last.url.path) == ("POST", "/tags")
    assert body_of(recorder.last) == {"id": "5", "name": "New"}


def test_ids_are_strings_even_when_they_look_numeric(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/tickets", TICKET)
    connector.invoke("create_ticket", {"ticket_type_id": 88, "contact_id": "a@b.example"})
    assert body_of(recorder.last)["ticket_type_id"] == "88"
