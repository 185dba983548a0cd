"""The kinds of the manifest as a flow builder meets them: lists, data sources, triggers.

Data sources run against the sandbox in-process and over a real loopback socket through the
CLI; the list rules are the runtime's, one for every list action.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REPO, TOKEN, Recorder, body_of, query_of

from intercom_connector import Connector
from intercom_connector.runtime.errors import (
    ConnectionConfigError,
    InputValidationError,
    ManifestError,
)
from intercom_connector.runtime.manifest import load_manifest, parse_manifest
from intercom_connector.sandbox import Sandbox, serve

MANIFEST = load_manifest()
LISTS = [a for a in MANIFEST.actions.values() if a.kind == "list"]
SOURCES = list(MANIFEST.data_sources.values())


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(":memory:")


@pytest.fixture
def intercom(sandbox: Sandbox) -> Iterator[Connector]:
    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    with Connector(connection, transport=sandbox.transport()) as connector:
        yield connector


# -- data sources ---------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.key)
def test_every_data_source_gives_choices_from_the_sandbox(source: Any, intercom: Connector) -> None:
    answer = intercom.data_source(source.key, {})
    assert list(answer) == ["result"]
    choices = answer["result"]
    assert choices, f"{source.key} gave no choice: the seeded sandbox has some"
    for choice in choices:
        assert set(choice) == {"key", "label"}
        assert isinstance(choice["key"], str) and choice["key"]
        assert isinstance(choice["label"], str) and choice["label"]
    assert len({c["key"] for c in choices}) == len(choices)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.key)
def test_a_data_source_honours_its_limit(source: Any, intercom: Connector) -> None:
    assert len(intercom.data_source(source.key, {"limit": 1})["result"]) == 1


def test_select_contact_searches_as_you_type(intercom: Connector) -> None:
    every = intercom.data_source("select_contact", {"limit": 1000})["result"]
    found = intercom.data_source("select_contact", {"query": "lovelace"})["result"]
    assert found and len(found) < len(every)
    assert all("lovelace" in choice["label"].lower() for choice in found)


def test_select_contact_never_lists_every_contact(recorder: Recorder) -> None:
    page = {"type": "list", "data": [{"id": "a", "name": "A"}], "pages": {}}
    recorder.on("POST", "/contacts/search", page)
    with Connector({"type": "access_token", "access_token": TOKEN}, transport=_mock(recorder)) as c:
        c.data_source("select_contact", {"query": "ada", "limit": 5})
    assert [r.url.path for r in recorder.requests] == ["/contacts/search"]
    assert body_of(recorder.last)["query"]["operator"] == "OR"


def test_a_data_source_reads_no_more_pages_than_its_limit(recorder: Recorder) -> None:
    def page(number: int) -> dict[str, Any]:
        companies = [{"id": f"{number}-{i}", "name": f"Co {i}"} for i in range(50)]
        info = {"type": "pages", "page": number, "per_page": 50, "total_pages": 20}
        return {"type": "list", "data": companies, "total_count": 1000, "pages": info}

    recorder.respond("POST", "/companies/list", lambda r: _json(page(int(query_of(r)["page"][0]))))
    with Connector({"type": "access_token", "access_token": TOKEN}, transport=_mock(recorder)) as c:
        choices = c.data_source("select_company", {"limit": 70})["result"]
    assert len(choices) == 70
    assert len(recorder.requests) <= 2 + c.client.max_concurrency  # never all 20 pages
    assert query_of(recorder.requests[0])["per_page"] == ["50"]  # the list's maximum


def test_a_data_source_without_a_connection_says_connect_first() -> None:
    with pytest.raises(ConnectionConfigError, match="Connect first"):
        Connector(None).data_source("select_tag", {})


def test_a_data_source_checks_its_inputs_first() -> None:
    with pytest.raises(InputValidationError, match=r"Limit \(limit\): must be at least 1"):
        Connector(None).data_source("select_tag", {"limit": 0})


def test_inputs_name_their_data_sources() -> None:
    exported = json.loads(_cli("manifest").stdout)
    named = {
        (action["key"], spec["key"]): spec.get("data_source")
        for action in exported["actions"]
        for spec in action["inputs"]
    }
    assert named["attach_tag_to_contact", "tag_id"] == "select_tag"
    assert named["get_contact", "contact_id"] == "select_contact"
    assert named["get_company", "company_id"] == "select_company"
    assert named["create_ticket", "ticket_type_id"] == "select_ticket_type"
    assert named["list_companies", "segment_id"] == "select_segment"
    # the company_id you set yourself is no Intercom id: no dropdown of Intercom's ids
    assert named["create_company", "company_id"] is None
    assert {s["key"] for s in exported["data_sources"]} == set(MANIFEST.data_sources)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intercom_connector", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


def test_data_source_cli_over_loopback(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sandbox")
    with serve(sandbox) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
            "INTERCOM_ACCESS_TOKEN": sandbox.token,
            "INTERCOM_BASE_URL": server.url,
        }
        done = _cli("data-source", "select_tag", "--input", "limit=2", env=env)
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["result"]) == 2
        listed = _cli("data-sources", env=env)
        assert listed.returncode == 0
        assert {line.split()[0] for line in listed.stdout.splitlines()} == set(
            MANIFEST.data_sources
        )
        unknown = _cli("data-source", "select_nothing", env=env)
        assert unknown.returncode == 2 and "is not a data source" in unknown.stderr


def test_data_source_cli_on_the_embedded_sandbox(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
        "INTERCOM_SANDBOX_DIR": str(tmp_path),
    }
    done = _cli("data-source", "select_tag", "--sandbox", env=env)
    assert done.returncode == 0, done.stderr
    assert any(choice["label"] == "VIP" for choice in json.loads(done.stdout)["result"])


# -- lists: one rule for all ------------------------------------------------------------


@pytest.mark.parametrize("action", [a for a in LISTS if "page" in {s.key for s in a.inputs}])
def test_fetch_all_with_page_is_refused_on_every_list(action: Any, recorder: Recorder) -> None:
    inputs = {"fetch_all": True, "page": 2, **_required(action)}
    connection = {"type": "access_token", "access_token": TOKEN}
    with (
        Connector(connection, transport=_mock(recorder)) as c,
        pytest.raises(InputValidationError, match="give only one of Fetch All, Page"),
    ):
        c.invoke(action.key, inputs)
    assert recorder.requests == []


@pytest.mark.parametrize("action", LISTS, ids=lambda a: a.key)
def test_every_list_exports_its_paging_and_per_page_default(action: Any) -> None:
    exported = {a["key"]: a for a in json.loads(_cli("manifest").stdout)["actions"]}[action.key]
    assert exported["kind"] == "list"
    assert exported["paging"]["style"] in ("cursor", "search", "page_number", "scroll", "link")
    per_page = {spec["key"]: spec for spec in exported["inputs"]}["per_page"]
    assert per_page["default"] == 15
    assert {"type": "at_most_one_of", "inputs": ["page", "starting_after"]} in exported[
        "rules"
    ] or "page" not in {s.key for s in action.inputs}


def test_the_export_carries_the_rules_a_form_enforces() -> None:
    exported = {a["key"]: a for a in json.loads(_cli("manifest").stdout)["actions"]}
    assert exported["create_contact"]["rules"] == [
        {"type": "at_least_one_of", "inputs": ["role", "external_id", "email"]}
    ]
    assert {"type": "at_most_one_of", "inputs": ["fetch_all", "page"]} in exported["list_contacts"][
        "rules"
    ]
    assert exported["get_contact"]["kind"] == "request"


def test_fetch_all_from_a_cursor_reads_the_rest(recorder: Recorder) -> None:
    last = {"type": "list", "data": [{"id": "c"}], "pages": {"type": "pages"}}
    recorder.on("GET", "/contacts", last)
    with Connector({"type": "access_token", "access_token": TOKEN}, transport=_mock(recorder)) as c:
        data = c.invoke("list_contacts", {"fetch_all": True, "starting_after": "cur"})["data"]
    assert query_of(recorder.last)["starting_after"] == ["cur"]
    assert (data["total_count"], [r["id"] for r in data["data"]]) == (1, ["c"])


def test_a_new_list_action_pages_by_number(recorder: Recorder) -> None:
    def page(request: Any) -> Any:
        number = int(query_of(request)["page"][0])
        info = {"type": "pages", "page": number, "per_page": 2, "total_pages": 2}
        contacts = [{"type": "contact", "id": f"{number}{i}"} for i in range(2)]
        return _json({"type": "list", "data": contacts, "total_count": 4, "pages": info})

    recorder.respond("GET", "/companies/co1/contacts", page)
    with Connector({"type": "access_token", "access_token": TOKEN}, transport=_mock(recorder)) as c:
        one = c.invoke("list_company_contacts", {"company_id": "co1", "per_page": 2})["data"]
        every = c.invoke("list_company_contacts", {"company_id": "co1", "fetch_all": True})
    assert one["pages"]["next"]["starting_after"] == "2"
    assert [r["id"] for r in every["data"]["data"]] == ["10", "11", "20", "21"]


# -- the meta-schema checks each kind strictly ------------------------------------------

TEXT = (REPO / "connector.yaml").read_text(encoding="utf-8")


def test_a_list_action_must_declare_its_paging() -> None:
    text = TEXT.replace("    paging: {style: cursor}\n", "", 1)
    with pytest.raises(ManifestError, match=r"actions\.list_contacts.*'paging' is a required"):
        parse_manifest(text)


def test_paging_inputs_on_a_request_action_are_refused() -> None:
    text = TEXT.replace(
        "      contact_id: {}\n\n  list_contact_companies:",
        "      contact_id: {}\n      fetch_all: {}\n\n  list_contact_companies:",
        1,
    )
    with pytest.raises(ManifestError, match="paging inputs \\['fetch_all'\\] need 'kind: list'"):
        parse_manifest(text)


def test_an_input_naming_an_unknown_data_source_fails() -> None:
    text = TEXT.replace("data_source: select_tag\n", "data_source: select_tags\n", 1)
    with pytest.raises(ManifestError, match="no data source 'select_tags'"):
        parse_manifest(text)


def test_a_declared_request_naming_an_unknown_input_fails() -> None:
    text = TEXT.replace('path: "/contacts/{contact_id}/tags"}', 'path: "/contacts/{contact}/tags"}')
    with pytest.raises(ManifestError, match=r"request: names unknown inputs \['contact'\]"):
        parse_manifest(text)


@pytest.mark.parametrize(
    ("unique", "unknown"),
    [("[email, mail]", "mail"), ("[email], unless: {kind: lead}", "kind")],
)
def test_a_unique_key_naming_an_unknown_input_fails(unique: str, unknown: str) -> None:
    old = 'unique_by: {inputs: [email, external_id], unless: {role: lead}, read: "/contacts/{id}"}'
    assert old in TEXT
    text = TEXT.replace(old, f'unique_by: {{inputs: {unique}, read: "/contacts/{{id}}"}}')
    with pytest.raises(ManifestError, match=rf"request: names unknown inputs \['{unknown}'\]"):
        parse_manifest(text)


def _required(action: Any) -> dict[str, str]:
    return {spec.key: "x1" for spec in action.value_inputs if spec.required}


def _mock(recorder: Recorder) -> Any:
    import httpx

    return httpx.MockTransport(recorder)


def _json(body: Any) -> Any:
    import httpx

    return httpx.Response(200, json=body)


# -- a host's process is left as it was -------------------------------------------------


def _paged_contacts(recorder: Recorder, pages: int, seen: list[bool]) -> None:
    def answer(request: Any) -> Any:
        seen.append(gc.isenabled())
        cursor = query_of(request).get("starting_after", ["0"])[0]
        number = int(cursor)
        info: dict[str, Any] = {"type": "pages", "per_page": 2}
        if number + 1 < pages:
            info["next"] = {"per_page": 2, "starting_after": str(number + 1)}
        contacts = [{"id": f"{number}-{i}", "tags": {"data": []}} for i in range(2)]
        return _json({"type": "list", "data": contacts, "pages": info})

    recorder.respond("GET", "/contacts", answer)


def test_a_fetch_all_leaves_the_garbage_collector_running(recorder: Recorder) -> None:
    seen: list[bool] = []
    _paged_contacts(recorder, 5, seen)
    with Connector({"type": "access_token", "access_token": TOKEN}, transport=_mock(recorder)) as c:
        data = c.invoke("list_contacts", {"fetch_all": True})["data"]
    assert len(data["data"]) == 10
    assert seen == [True] * 5 and gc.isenabled()
    assert gc.get_freeze_count() == 0  # what was set aside was given back


def test_a_fetch_all_leaves_a_hosts_own_frozen_objects_frozen(recorder: Recorder) -> None:
    seen: list[bool] = []
    _paged_contacts(recorder, 3, seen)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        connection = {"type": "access_token", "access_token": TOKEN}
        with Connector(connection, transport=_mock(recorder)) as c:
            c.invoke("list_contacts", {"fetch_all": True})
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(tmp_path_factory.mktemp("served"))
    with serve(sandbox) as server:
        yield sandbox, server.url


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.key)
def test_every_data_source_over_loopback(source: Any, served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    connection = {"type": "access_token", "access_token": sandbox.token, "base_url": url}
    with Connector(connection) as connector:  # real HTTP on 127.0.0.1, no transport seam
        choices = connector.data_source(source.key, {"limit": 3})["result"]
    assert 1 <= len(choices) <= 3
    assert all(choice["key"] and choice["label"] for choice in choices)


# -- paging styles: one paginator each, its facts declared once -------------------------


def test_a_style_gives_its_lists_their_page_size_and_cursor_shape() -> None:
    # cursor and search lists take up to 150 a page; a numbered list's cursor is a number
    for key in ("list_contacts", "search_contacts", "list_conversations", "search_tickets"):
        assert MANIFEST.action(key).input("per_page").maximum == 150, key
    assert MANIFEST.action("list_companies").input("per_page").maximum == 50
    numbered = MANIFEST.action("list_articles").input("starting_after").json_schema()
    assert numbered["pattern"] == "^[1-9][0-9]*$"
    assert "pattern" not in MANIFEST.action("list_contacts").input("starting_after").json_schema()
    link = MANIFEST.action("list_events").input("starting_after").comments
    assert "the link a previous output gives in pages.next" in link


def test_an_unknown_style_and_a_misplaced_overflow_are_refused() -> None:
    text = TEXT.replace("    paging: {style: cursor}\n", "    paging: {style: offset}\n", 1)
    with pytest.raises(ManifestError, match=r"list_contacts\.paging\.style: 'offset' is not a"):
        parse_manifest(text)
    overflow = "{style: cursor, overflow: {after: 5, path: /x, applies_to: /contacts}}"
    text = TEXT.replace("    paging: {style: cursor}\n", f"    paging: {overflow}\n", 1)
    with pytest.raises(ManifestError, match="overflow: only a numbered list"):
        parse_manifest(text)


def test_a_new_style_is_one_class_and_one_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from intercom_connector.runtime import paging

    class OffsetPaginator(paging.PageNumberPaginator):
        name = "offset"
        inputs = {"per_page": {"maximum": 250}}

    monkeypatch.setitem(paging.PAGINATORS, "offset", OffsetPaginator)
    text = TEXT.replace("    paging: {style: cursor}\n", "    paging: {style: offset}\n", 1)
    action = parse_manifest(text).action("list_contacts")
    assert action.paging is not None and action.paging.style == "offset"
    assert action.input("per_page").maximum == 250
    assert isinstance(paging.paginator(action.paging), OffsetPaginator)


def test_a_filtered_company_list_past_ten_thousand_is_paged_not_scrolled(
    recorder: Recorder,
) -> None:
    """The scroll API takes no filters: only the unfiltered list overflows onto it."""

    def page(request: Any) -> Any:
        number = int(query_of(request)["page"][0])
        info = {"type": "pages", "page": number, "per_page": 15, "total_pages": 2}
        found = [{"type": "company", "id": f"c{number}"}]
        return _json({"type": "list", "data": found, "total_count": 10_001, "pages": info})

    recorder.respond("GET", "/companies", page)
    with Connector({"type": "access_token", "access_token": TOKEN}, transport=_mock(recorder)) as c:
        every = c.invoke("list_companies", {"tag_id": "7", "fetch_all": True})["data"]
    assert [r["id"] for r in every["data"]] == ["c1", "c2"]
    assert all(request.url.path == "/companies" for request in recorder.requests)
