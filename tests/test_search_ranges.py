"""A search's Fetch All split into ranges of created_at gives exactly the sequential walk.

Against the sandbox, whose search compares timestamps by calendar day as Intercom does:
the same records in the same order, for the orders a split keeps, and the walk itself
wherever a split would not be exact.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from support import REPO, RecordingTransport

from intercom_connector import Connector
from intercom_connector.hosts.docs import manifest_json
from intercom_connector.runtime.errors import ManifestError
from intercom_connector.runtime.listing import RecordStream
from intercom_connector.runtime.manifest import load_manifest, parse_manifest
from intercom_connector.runtime.paging import search_walk
from intercom_connector.sandbox import Sandbox
from intercom_connector.sandbox import records as sandbox_records
from intercom_connector.sandbox.routes import conversations as conversation_routes
from intercom_connector.sandbox.routes.conversations import new_conversation

DAY = 86_400
START = 1_600_000_000
COUNT = 1_200


def add_contacts_over_time(sandbox: Sandbox, count: int, seed: int = 7) -> None:
    """``count`` contacts created over about a year, most of them recently, many at the
    very same second (ties), users and leads mixed."""
    chance = random.Random(seed)
    with sandbox.store.transaction() as db:
        for number in range(count):
            if number % 5 == 0:
                created = START + 300 * DAY + chance.randrange(3) * 3600  # a busy day, ties
            else:
                created = START + int(chance.betavariate(5, 1) * 360 * DAY)
            contact_id = hashlib.sha1(f"range-{number}".encode()).hexdigest()[:24]
            fields = {
                "role": "user" if number % 3 else "lead",
                "email": f"range-{number}@example.com",
                "name": f"Range {number % 97}",
            }
            sandbox_records.save_contact(
                db, sandbox_records.new_contact(contact_id, fields, created)
            )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sandbox = Sandbox(":memory:", seed=False)
    add_contacts_over_time(sandbox, COUNT)
    yield sandbox
    sandbox.close()


def connector(sandbox: Sandbox) -> tuple[Connector, RecordingTransport]:
    transport = RecordingTransport(sandbox.transport())
    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    return Connector(connection, transport=transport), transport


def walk(sandbox: Sandbox, body: dict[str, Any]) -> list[str]:
    """The sequential walk: page after page, the cursor in the body."""
    with connector(sandbox)[0] as intercom:
        pages = search_walk(intercom.client, "/contacts/search", body)
        return [record["id"] for record in RecordStream(pages)]


def split(sandbox: Sandbox, inputs: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    intercom, transport = connector(sandbox)
    with intercom:
        found = intercom.invoke("search_contacts", {**inputs, "fetch_all": True})["data"]
    assert found["total_count"] == len(found["data"])
    bodies = [json.loads(request.content) for request, _ in transport.exchanges]
    return [record["id"] for record in found["data"]], bodies


def ranged(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests that searched a range of created_at (probes and pages)."""
    return [body for body in bodies if '"created_at", "operator": "<"' in json.dumps(body)]


def range_pages(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pages of ranges read (not one-record probes)."""
    return [body for body in ranged(bodies) if body["pagination"]["per_page"] > 1]


USERS = {"field": "role", "operator": "=", "value": "user"}


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param({"role": "user", "per_page": 20}, id="Intercom's order"),
        pytest.param(
            {"json_query": {"query": USERS, "sort": {"field": "created_at", "order": "ascending"}},
             "per_page": 25},
            id="oldest first",
        ),
        pytest.param(
            {"json_query": {"operator": "OR", "value": [USERS, {"field": "name", "operator": "~",
                                                                "value": "Range 1"}]},
             "per_page": 30},
            id="an OR query",
        ),
    ],
)  # fmt: skip
def test_the_split_gives_the_records_of_the_walk_in_its_order(
    sandbox: Sandbox, inputs: dict[str, Any]
) -> None:
    found, bodies = split(sandbox, inputs)
    pages = range_pages(bodies)
    assert len({json.dumps(body["query"]) for body in pages}) >= 4, "it was not split"
    assert found == walk(sandbox, bodies[0])
    assert len(found) == len(set(found)) > 400


def test_a_sort_on_another_field_is_walked_as_it_is(sandbox: Sandbox) -> None:
    body = {"query": USERS, "sort": {"field": "name", "order": "ascending"}}
    found, bodies = split(sandbox, {"json_query": body, "per_page": 50})
    assert not ranged(bodies)
    assert len(bodies) == -(-len(found) // 50)  # page after page, nothing else
    assert found == walk(sandbox, bodies[0])


def test_a_short_walk_is_not_split(sandbox: Sandbox) -> None:
    query = {"field": "name", "operator": "=", "value": "Range 5"}
    found, bodies = split(sandbox, {"json_query": query, "per_page": 5})
    assert not ranged(bodies)
    assert found == walk(sandbox, bodies[0])


def test_records_without_a_creation_time_make_it_walk(sandbox: Sandbox) -> None:
    """Such records fall in no range: the counts do not add up, and the walk goes on."""
    other = Sandbox(":memory:", seed=False)
    add_contacts_over_time(other, 400, seed=3)
    with other.store.transaction() as db:
        (body,) = db.execute("SELECT body FROM contacts ORDER BY seq LIMIT 1").fetchone()
        contact = json.loads(body)
        contact["created_at"] = None
        sandbox_records.save_contact(db, contact)
    found, bodies = split(other, {"role": "lead", "per_page": 10})
    assert found == walk(other, bodies[0])
    assert contact["id"] in found


def test_a_query_too_deep_for_the_bounds_is_walked(sandbox: Sandbox) -> None:
    deep = {
        "operator": "OR",
        "value": [
            {"operator": "AND", "value": [USERS, {"field": "name", "operator": "~", "value": "1"}]},
            {"operator": "AND", "value": [USERS, {"field": "name", "operator": "~", "value": "2"}]},
        ],
    }
    found, bodies = split(sandbox, {"json_query": deep, "per_page": 20})
    assert not ranged(bodies)
    assert found == walk(sandbox, bodies[0])


def test_the_ranges_are_read_side_by_side_and_streamed_in_order(sandbox: Sandbox) -> None:
    inner = RecordingTransport(sandbox.transport())
    lock = threading.Lock()
    flying = [0, 0]  # now, most

    def counted(request: httpx.Request) -> httpx.Response:
        with lock:
            flying[0] += 1
            flying[1] = max(flying)
        try:
            return inner.handle_request(request)
        finally:
            with lock:
                flying[0] -= 1

    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    with Connector(connection, transport=httpx.MockTransport(counted)) as intercom:
        inputs = {"role": "user", "per_page": 20, "fetch_all": True}
        found = [record["id"] for record in intercom.stream("search_contacts", inputs)]
    bodies = [json.loads(request.content) for request, _ in inner.exchanges]
    assert range_pages(bodies) and flying[1] > 1
    assert found == walk(sandbox, bodies[0])


def test_an_http_error_in_a_range_reaches_the_caller(sandbox: Sandbox) -> None:
    inner = sandbox.transport()
    seen: list[int] = []

    def failing(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if '"<"' in json.dumps(body) and body["pagination"].get("starting_after"):
            seen.append(1)
            return httpx.Response(400, json={"type": "error.list", "errors": [{"code": "bad"}]})
        return inner.handle_request(request)

    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    with (
        Connector(connection, transport=httpx.MockTransport(failing)) as intercom,
        pytest.raises(Exception, match="400 bad"),
    ):
        intercom.invoke("search_contacts", {"role": "user", "per_page": 20, "fetch_all": True})
    assert seen


def test_the_manifest_exports_the_split_and_allows_it_on_a_search_only() -> None:

    exported = {a["key"]: a for a in manifest_json(load_manifest())["actions"]}
    assert exported["search_contacts"]["paging"]["split_by"] == "created_at"
    assert "split_by" not in exported["list_contacts"]["paging"]  # a cursor walk stays one
    text = (REPO / "connector.yaml").read_text(encoding="utf-8")
    cursor_split = text.replace(
        "paging: {style: cursor}", "paging: {style: cursor, split_by: created_at}"
    )
    with pytest.raises(ManifestError, match="split_by: only a search"):
        parse_manifest(cursor_split)


# -- conversations and tickets (issue 10): the same split, their records' own fields -----


def add_conversations_and_tickets(sandbox: Sandbox, count: int, seed: int = 11) -> None:
    """``count`` conversations and ``count`` tickets created over about a year (many on one
    busy day), the conversations updated in another order than they were created."""
    chance = random.Random(seed)
    with sandbox.store.transaction() as db:
        contact = json.loads(db.execute("SELECT body FROM contacts LIMIT 1").fetchone()[0])
        ticket = json.loads(db.execute("SELECT body FROM tickets LIMIT 1").fetchone()[0])
        first_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM tickets").fetchone()[0] + 1
        for number in range(count):
            if number % 5 == 0:
                created = START + 300 * DAY + chance.randrange(3) * 3600
            else:
                created = START + int(chance.betavariate(5, 1) * 360 * DAY)
            conversation = new_conversation(db, contact, f"Question {number}", created)
            conversation["updated_at"] = created + chance.randrange(400) * DAY
            conversation_routes.save(db, conversation)
            seq = first_seq + number
            copy = {**ticket, "id": str(500_000 + seq), "ticket_id": str(seq)}
            copy.update(created_at=created, updated_at=created, open=number % 4 != 0)
            db.execute(
                "INSERT INTO tickets (seq, id, body) VALUES (?, ?, ?)",
                (seq, copy["id"], json.dumps(copy)),
            )


@pytest.fixture(scope="module")
def support_sandbox() -> Iterator[Sandbox]:
    sandbox = Sandbox(":memory:")
    add_conversations_and_tickets(sandbox, 600)
    yield sandbox
    sandbox.close()


SEARCHES = {
    "search_conversations": ("/conversations/search", "conversations"),
    "search_tickets": ("/tickets/search", "tickets"),
}


def split_and_walk(
    sandbox: Sandbox, action: str, inputs: dict[str, Any]
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    path, records = SEARCHES[action]
    intercom, transport = connector(sandbox)
    with intercom:
        found = intercom.invoke(action, {**inputs, "fetch_all": True})["data"]
    bodies = [json.loads(request.content) for request, _ in transport.exchanges]
    assert found["total_count"] == len(found[records])
    with connector(sandbox)[0] as intercom:
        pages = search_walk(intercom.client, path, bodies[0])
        walked = [record["id"] for record in RecordStream(pages, records)]
    return [record["id"] for record in found[records]], walked, bodies


def test_every_search_with_a_creation_time_is_split() -> None:
    for action in load_manifest().actions.values():
        if action.paging is not None and action.paging.style == "search":
            assert action.paging.split_by == "created_at", action.key


OPEN = {"field": "open", "operator": "=", "value": True}


@pytest.mark.parametrize("action", sorted(SEARCHES))
@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"query": OPEN, "sort": {"field": "created_at", "order": "descending"}},
                     id="newest first"),
        pytest.param({"query": OPEN, "sort": {"field": "created_at", "order": "ascending"}},
                     id="oldest first"),
    ],
)  # fmt: skip
def test_conversations_and_tickets_split_as_their_walk(
    support_sandbox: Sandbox, action: str, query: dict[str, Any]
) -> None:
    found, walked, bodies = split_and_walk(
        support_sandbox, action, {"json_query": query, "per_page": 20}
    )
    assert len({json.dumps(body["query"]) for body in range_pages(bodies)}) >= 4, "not split"
    assert found == walked
    assert len(found) == len(set(found)) > 300


def test_tickets_in_intercoms_order_are_split_as_their_walk(support_sandbox: Sandbox) -> None:
    found, walked, bodies = split_and_walk(
        support_sandbox, "search_tickets", {"json_query": OPEN, "per_page": 20}
    )
    assert range_pages(bodies), "not split"
    assert found == walked


def test_conversations_given_no_sort_are_split_oldest_first(support_sandbox: Sandbox) -> None:
    # Intercom orders a conversation search it is given no sort for by updated_at: Fetch All
    # asks for created_at itself, so the split holds whatever Intercom's own order is
    found, walked, bodies = split_and_walk(
        support_sandbox, "search_conversations", {"json_query": OPEN, "per_page": 20}
    )
    assert bodies[0]["sort"] == {"field": "created_at", "order": "ascending"}
    assert range_pages(bodies), "not split"
    assert found == walked
    assert len(found) > 300


# -- the order a split relies on is asked for, never guessed from the first page ----------


def users_fetched_all(
    sandbox: Sandbox, answering: Callable[[dict[str, Any]], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Search Contacts' users, Fetch All, 20 a page, against an Intercom that answers each
    search as ``answering`` rewrites its body: the records, and the bodies it answered."""
    inner = RecordingTransport(sandbox.transport())

    def rewritten(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        answering(body)
        headers = {k: v for k, v in request.headers.items() if k != "content-length"}
        return inner.handle_request(httpx.Request(request.method, request.url, headers=headers,
                                                  json=body))  # fmt: skip

    connection = {"type": "access_token", "access_token": sandbox.token,
                  "base_url": sandbox.base_url}  # fmt: skip
    with Connector(connection, transport=httpx.MockTransport(rewritten)) as intercom:
        found = intercom.invoke("search_contacts", {"role": "user", "per_page": 20,
                                                    "fetch_all": True})["data"]["data"]  # fmt: skip
    return found, [json.loads(request.content) for request, _ in inner.exchanges]


def test_fetch_all_given_no_sort_asks_for_one_whatever_intercoms_own_order(
    sandbox: Sandbox,
) -> None:
    """An Intercom whose own order (no sort given) is another one: by email, descending."""

    def own_order_by_email(body: dict[str, Any]) -> None:
        body.setdefault("sort", {"field": "email", "order": "descending"})

    found, bodies = users_fetched_all(sandbox, own_order_by_email)
    assert range_pages(bodies), "not split"
    pages = [body for body in bodies if body["pagination"]["per_page"] > 1]
    assert all(body["sort"] == {"field": "created_at", "order": "ascending"} for body in pages)
    stamps = [record["created_at"] for record in found]
    assert stamps == sorted(stamps)
    assert [record["id"] for record in found] == walk(sandbox, bodies[0])
    assert len(found) == len({record["id"] for record in found}) > 400


def test_a_first_page_that_only_looks_ordered_by_creation_is_walked() -> None:
    """Sorted by name, the first page's records happen to be in order of creation: a split
    by created_at would put the later pages' older records first."""
    other = Sandbox(":memory:", seed=False)
    with other.store.transaction() as db:
        for number in range(220):
            first = number < 20  # names a-..: the first page, created in order
            created = START + (300 + number) * DAY if first else START + (number % 200) * DAY
            contact_id = hashlib.sha1(f"looks-{number}".encode()).hexdigest()[:24]
            fields = {"role": "user", "email": f"looks-{number}@example.com",
                      "name": f"{'a' if first else 'b'}-{number:03d}"}  # fmt: skip
            sandbox_records.save_contact(
                db, sandbox_records.new_contact(contact_id, fields, created)
            )
    body = {"query": USERS, "sort": {"field": "name", "order": "ascending"}}
    found, bodies = split(other, {"json_query": body, "per_page": 20})
    other.close()
    assert not ranged(bodies)
    assert found[:20] == [hashlib.sha1(f"looks-{n}".encode()).hexdigest()[:24] for n in range(20)]
    assert len(found) == 220


def test_an_intercom_that_ignores_the_sort_asked_for_is_walked_as_it_answers(
    sandbox: Sandbox,
) -> None:
    """The split needs the order it asked for: an Intercom answering in another order (by
    email, whatever the sort) has a first page out of order by created_at, so the search
    is walked page after page, every record once, in the order it answers."""

    def sort_ignored(body: dict[str, Any]) -> None:
        body["sort"] = {"field": "email", "order": "descending"}

    found, bodies = users_fetched_all(sandbox, sort_ignored)
    assert not ranged(bodies), "split on an order Intercom did not give"
    assert [record["id"] for record in found] == walk(sandbox, bodies[0])
    assert len(found) == len({record["id"] for record in found}) > 400
