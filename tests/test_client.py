"""The shared client: hosts, headers, path safety, errors, retries, pagination."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import pytest
from support import TOKEN, LoopbackIntercom, Recorder, body_of, query_of

from intercom_connector import Connector
from intercom_connector.runtime import client as client_module
from intercom_connector.runtime import paging as paging_module
from intercom_connector.runtime.client import RetryPolicy, build_path
from intercom_connector.runtime.errors import (
    AuthenticationError,
    ConnectionConfigError,
    IntercomAPIError,
    NotFoundError,
    ResultTooLargeError,
    ServerError,
    TransportError,
)
from intercom_connector.sandbox import Sandbox

CONTACT = {"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0"}
FAST = RetryPolicy(backoff_base=0.0, backoff_cap=0.0)


def error_body(code: str, message: str) -> dict[str, object]:
    return {
        "type": "error.list",
        "request_id": "req-123",
        "errors": [{"code": code, "message": message}],
    }


@pytest.mark.parametrize(
    ("region", "host"),
    [("us", "api.intercom.io"), ("eu", "api.eu.intercom.io"), ("au", "api.au.intercom.io")],
)
def test_region_chooses_the_api_host(region: str, host: str, recorder: Recorder) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    connection = {"type": "access_token", "access_token": TOKEN, "region": region}
    with Connector(connection, transport=httpx.MockTransport(recorder)) as connector:
        connector.invoke("list_tags")
    assert str(recorder.last.url) == f"https://{host}/tags"


def test_api_version_is_configurable(recorder: Recorder) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    connection = {"type": "access_token", "access_token": TOKEN, "api_version": "2.14"}
    with Connector(connection, transport=httpx.MockTransport(recorder)) as connector:
        connector.invoke("list_tags")
    assert recorder.last.headers["Intercom-Version"] == "2.14"


@pytest.mark.parametrize(
    "base_url", ["http://api.intercom.io", "http://10.0.0.1:8080", "ftp://127.0.0.1"]
)
def test_base_url_must_be_https_unless_loopback(base_url: str) -> None:
    with pytest.raises(ConnectionConfigError, match="Base URL"):
        Connector({"type": "access_token", "access_token": TOKEN, "base_url": base_url})


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "http://[::1]:9", "http://localhost"]
)
def test_loopback_base_url_is_accepted(base_url: str, recorder: Recorder) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    connection = {"type": "access_token", "access_token": TOKEN, "base_url": base_url}
    with Connector(connection, transport=httpx.MockTransport(recorder)) as connector:
        connector.invoke("list_tags")
    assert str(recorder.last.url) == base_url.rstrip("/") + "/tags"


@pytest.mark.parametrize(
    ("contact_id", "path"),
    [
        ("../admins", "/contacts/..%2Fadmins"),
        ("..", "/contacts/%2E%2E"),
        ("a/b", "/contacts/a%2Fb"),
        ("a%2Fb", "/contacts/a%252Fb"),
        ("x?role=admin", "/contacts/x%3Frole%3Dadmin"),
        ("x#frag", "/contacts/x%23frag"),
        ("ünï", "/contacts/%C3%BCn%C3%AF"),
    ],
)
def test_an_id_cannot_leave_its_path_segment(
    contact_id: str, path: str, recorder: Recorder, connector: Connector
) -> None:
    recorder.on("GET", ".*", CONTACT)
    connector.invoke("get_contact", {"contact_id": contact_id})
    assert recorder.last.url.raw_path.decode() == path
    assert recorder.last.url.query == b""


def test_build_path_encodes_each_placeholder() -> None:
    assert (
        build_path("/contacts/{a}/tags/{b}", {"a": "1 2", "b": "/"}) == "/contacts/1%202/tags/%2F"
    )


@pytest.mark.parametrize(
    ("status", "code", "error_class", "exit_code"),
    [
        (401, "unauthorized", AuthenticationError, 3),
        (403, "forbidden", AuthenticationError, 3),
        (404, "not_found", NotFoundError, 4),
        (400, "parameter_invalid", IntercomAPIError, 4),
        (409, "conflict", IntercomAPIError, 4),
    ],
)
def test_error_answers_map_to_the_tree(
    status: int,
    code: str,
    error_class: type[IntercomAPIError],
    exit_code: int,
    recorder: Recorder,
    connector: Connector,
) -> None:
    recorder.on("GET", "/contacts/x", error_body(code, "It went wrong"), status=status)
    with pytest.raises(error_class) as excinfo:
        connector.invoke("get_contact", {"contact_id": "x"})
    error = excinfo.value
    assert type(error) is error_class
    assert (error.status, error.code, error.request_id) == (status, code, "req-123")
    assert error.exit_code == exit_code
    assert str(error) == (
        f"Intercom answered {status} {code} on GET /contacts/x: It went wrong [request id req-123]"
    )
    assert len(recorder.requests) == 1  # 4xx are final


def test_server_errors_are_retried_on_reads(recorder: Recorder, connector: Connector) -> None:
    answers = iter([503, 500, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 200:
            return httpx.Response(200, json=CONTACT)
        return httpx.Response(status, json=error_body("service_unavailable", "try later"))

    recorder.respond("GET", "/contacts/x", flaky)
    assert connector.invoke("get_contact", {"contact_id": "x"}) == {"data": CONTACT}
    assert len(recorder.requests) == 3


def test_server_errors_give_up_after_the_attempts_allowed(recorder: Recorder) -> None:
    recorder.on("GET", "/contacts/x", error_body("server_error", "boom"), status=500)
    connection = {"type": "access_token", "access_token": TOKEN}
    policy = RetryPolicy(max_attempts=3, backoff_base=0, backoff_cap=0)
    with (
        Connector(connection, transport=httpx.MockTransport(recorder), retry=policy) as connector,
        pytest.raises(ServerError, match=r"\(after 3 attempts\)") as excinfo,
    ):
        connector.invoke("get_contact", {"contact_id": "x"})
    assert excinfo.value.exit_code == 5
    assert len(recorder.requests) == 3


def test_a_create_is_not_repeated_after_a_server_error(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/contacts", error_body("server_error", "boom"), status=500)
    with pytest.raises(ServerError):  # a lead: Intercom would keep a second with that email
        connector.invoke("create_contact", {"email": "a@example.com", "role": "lead"})
    assert len(recorder.requests) == 1


def test_a_create_whose_outcome_is_unknown_says_so(
    recorder: Recorder, connector: Connector
) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    recorder.respond("POST", "/contacts", drop)
    with pytest.raises(TransportError, match="outcome is unknown") as excinfo:
        connector.invoke("create_contact", {"name": "Ann", "role": "lead"})
    assert excinfo.value.exit_code == 5
    assert excinfo.value.outcome_unknown is True
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("base", ["https://api.intercom.io", "http://127.0.0.1:8900/prefix/"])
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/contacts", {"per_page": 150, "starting_after": "WzE3MjAsIjY2NTciXQ=="}),
        ("/contacts", {}),
        ("/contacts/a%2Fb/tags", {"q": "ä ö & = # ? / + %20 ✓", "empty": "", "none": None}),
        ("/events", {"type": "user", "intercom_user_id": "1", "summary": True, "n": 1.5}),
        ("/companies", {"tag_id": ["1", "2"], "segment_id": ("s",)}),
    ],
)
def test_a_request_is_built_for_the_url_httpx_itself_builds(
    base: str, path: str, params: dict[str, object]
) -> None:
    # the client parses the whole URL once instead of httpx's three times: the same URL
    connection = {"type": "access_token", "access_token": TOKEN, "base_url": base}
    recorder = Recorder()
    recorder.on("GET", ".*", {})
    with Connector(connection, transport=httpx.MockTransport(recorder)) as connector:
        connector.client.request("GET", path, params=params)
        expected = connector.client._http.build_request("GET", path, params=params).url
    assert recorder.last.url == expected
    assert str(recorder.last.url) == str(expected)


# -- a create Intercom refuses to repeat: settled after a lost answer ------------------------


class LosingAnswers:
    """The sandbox behind a network that loses the answers of the first ``lose`` creates of
    contacts: each is done by the sandbox (or, with ``before``, never reaches it)."""

    def __init__(self, sandbox: Sandbox, lose: int, *, before: bool = False, status: int = 0):
        self.inner = sandbox.transport()
        self.lose, self.before, self.status = lose, before, status
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        creating = request.method == "POST" and request.url.path == "/contacts"
        if creating and self.lose and self.before:
            self.lose -= 1
            self.seen.append((request.method, request.url.path, 0))
            if self.status:
                return httpx.Response(self.status, json=error_body("server_error", "boom"))
            raise httpx.ReadError("connection reset before the request was read", request=request)
        response = self.inner.handle_request(request)
        response.read()
        self.seen.append((request.method, request.url.path, response.status_code))
        if creating and self.lose:
            self.lose -= 1
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response


def sandbox_connector(sandbox: Sandbox, transport: LosingAnswers) -> Connector:
    connection = {
        "type": "access_token",
        "access_token": sandbox.token,
        "base_url": sandbox.base_url,
    }
    return Connector(connection, transport=httpx.MockTransport(transport), retry=FAST)


def contacts_with(sandbox: Sandbox, email: str) -> int:
    with sandbox.store.transaction() as db:
        return int(
            db.execute("SELECT COUNT(*) FROM contacts WHERE email = ?", (email,)).fetchone()[0]
        )


@pytest.mark.parametrize("key", ["email", "external_id"])
def test_a_create_whose_answer_was_lost_is_answered_by_the_contact_it_made(key: str) -> None:
    sandbox = Sandbox(":memory:", seed=False)
    network = LosingAnswers(sandbox, lose=1)
    value = "ann@example.com" if key == "email" else "ann-1"
    with sandbox_connector(sandbox, network) as intercom:
        made = intercom.invoke("create_contact", {key: value, "name": "Ann"})["data"]
    assert made[key] == value and made["name"] == "Ann"
    # made once; sent again, Intercom's 409 named it; read, it is this create's answer
    assert [status for _, _, status in network.seen] == [200, 409, 200]
    assert network.seen[2][1] == f"/contacts/{made['id']}"
    with sandbox.store.transaction() as db:
        assert db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 1


@pytest.mark.parametrize("status", [0, 503])
def test_a_create_that_never_reached_intercom_is_sent_again_and_made_once(status: int) -> None:
    sandbox = Sandbox(":memory:", seed=False)
    network = LosingAnswers(sandbox, lose=2, before=True, status=status)
    with sandbox_connector(sandbox, network) as intercom:
        made = intercom.invoke("create_contact", {"email": "bo@example.com"})["data"]
    assert made["email"] == "bo@example.com"
    assert [status for _, _, status in network.seen][-1] == 200 and len(network.seen) == 3
    assert contacts_with(sandbox, "bo@example.com") == 1


def test_a_contact_that_was_there_before_is_a_conflict_not_this_create() -> None:
    sandbox = Sandbox(":memory:", seed=False)
    sandbox.clock.set(time.time() - 3600)
    (existing,) = sandbox.add_contacts(1, prefix="old")  # made an hour before the create
    sandbox.clock.set(time.time())
    network = LosingAnswers(sandbox, lose=1)  # its answer (a 409 already) is lost
    with (
        sandbox_connector(sandbox, network) as intercom,
        pytest.raises(IntercomAPIError, match=f"already exists with id={existing}") as excinfo,
    ):
        intercom.invoke("create_contact", {"email": "old-1@example.com"})
    assert excinfo.value.status == 409 and excinfo.value.outcome_unknown is False
    assert contacts_with(sandbox, "old-1@example.com") == 1


@pytest.mark.parametrize(
    ("inputs", "sendings", "says"),
    [
        # every sending's answer lost: Intercom kept one, at most
        (
            {"email": "cy@example.com"},
            4,
            r"outcome is unknown: it was sent 4 times.*at most one was made",
        ),
        # a lead: Intercom may keep a second with that email, so it is never sent again
        ({"email": "cy@example.com", "role": "lead"}, 1, "so it was not repeated"),
    ],
)
def test_a_create_whose_answers_are_lost_is_reported_unknown_and_made_once(
    inputs: dict[str, str], sendings: int, says: str
) -> None:
    sandbox = Sandbox(":memory:", seed=False)
    network = LosingAnswers(sandbox, lose=99)
    with (
        sandbox_connector(sandbox, network) as intercom,
        pytest.raises(TransportError, match=says) as excinfo,
    ):
        intercom.invoke("create_contact", inputs)
    assert excinfo.value.outcome_unknown is True and excinfo.value.exit_code == 5
    assert [path for _, path, _ in network.seen] == ["/contacts"] * sendings
    assert contacts_with(sandbox, "cy@example.com") == 1


def test_a_refused_connection_is_retried_even_for_a_create(
    recorder: Recorder, connector: Connector
) -> None:
    calls = iter([True, False])

    def refuse_once(request: httpx.Request) -> httpx.Response:
        if next(calls):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=CONTACT)

    recorder.respond("POST", "/contacts", refuse_once)
    assert connector.invoke("create_contact", {"email": "a@example.com"}) == {"data": CONTACT}
    assert len(recorder.requests) == 2


def test_rate_limited_requests_wait_and_retry(recorder: Recorder, connector: Connector) -> None:
    answers = iter([429, 200])

    def limited(request: httpx.Request) -> httpx.Response:
        if next(answers) == 429:
            return httpx.Response(
                429,
                json=error_body("rate_limit_exceeded", "Exceeded rate limit"),
                headers={"Retry-After": "0", "X-RateLimit-Remaining": "0"},
            )
        return httpx.Response(200, json=CONTACT)

    recorder.respond("POST", "/contacts", limited)  # even a create: Intercom did not process it
    assert connector.invoke("create_contact", {"email": "a@example.com"}) == {"data": CONTACT}
    assert len(recorder.requests) == 2


def page(ids: list[str], cursor: str | None) -> dict[str, object]:
    pages: dict[str, object] = {"type": "pages", "per_page": 2}
    if cursor:
        pages["next"] = {"per_page": 2, "starting_after": cursor}
    return {"type": "list", "data": [{"id": i} for i in ids], "total_count": 5, "pages": pages}


def cursor_pages(recorder: Recorder, method: str, path: str, cursor_of) -> None:  # type: ignore[no-untyped-def]
    book = {None: page(["1", "2"], "c1"), "c1": page(["3", "4"], "c2"), "c2": page(["5"], None)}
    recorder.respond(
        method, path, lambda request: httpx.Response(200, json=book[cursor_of(request)])
    )


def test_fetch_all_contacts_follows_every_cursor_keeping_per_page(
    recorder: Recorder, connector: Connector
) -> None:
    cursor_pages(recorder, "GET", "/contacts", lambda r: r.url.params.get("starting_after"))
    result = connector.invoke("list_contacts", {"fetch_all": True, "per_page": 2})
    assert [c["id"] for c in result["data"]["data"]] == ["1", "2", "3", "4", "5"]
    assert result["data"]["total_count"] == 5
    assert "next" not in result["data"]["pages"]
    assert [query_of(r) for r in recorder.requests] == [
        {"per_page": ["2"]},
        {"per_page": ["2"], "starting_after": ["c1"]},
        {"per_page": ["2"], "starting_after": ["c2"]},
    ]


def test_page_n_of_contacts_walks_the_cursors(recorder: Recorder, connector: Connector) -> None:
    cursor_pages(recorder, "GET", "/contacts", lambda r: r.url.params.get("starting_after"))
    result = connector.invoke("list_contacts", {"page": 2, "per_page": 2})
    assert [c["id"] for c in result["data"]["data"]] == ["3", "4"]
    assert result["data"]["pages"]["next"]["starting_after"] == "c2"


def test_search_fetch_all_keeps_the_query_and_moves_the_cursor_in_the_body(
    recorder: Recorder, connector: Connector
) -> None:
    cursor_pages(
        recorder,
        "POST",
        "/contacts/search",
        lambda r: (body_of(r).get("pagination") or {}).get("starting_after"),
    )
    result = connector.invoke("search_contacts", {"role": "lead", "fetch_all": True, "per_page": 2})
    assert len(result["data"]["data"]) == 5
    bodies = [body_of(r) for r in recorder.requests]
    query = {"field": "role", "operator": "=", "value": "lead"}
    # given no sort, Fetch All asks for one (README: Search ... with Fetch All)
    sort = {"field": "created_at", "order": "ascending"}
    assert bodies == [
        {"query": query, "pagination": {"per_page": 2}, "sort": sort},
        {"query": query, "pagination": {"per_page": 2, "starting_after": "c1"}, "sort": sort},
        {"query": query, "pagination": {"per_page": 2, "starting_after": "c2"}, "sort": sort},
    ]
    assert all(r.url.query == b"" for r in recorder.requests)


@pytest.mark.parametrize(
    ("action", "method", "path", "inputs"),
    [
        ("list_contacts", "GET", "/contacts", {}),
        ("search_contacts", "POST", "/contacts/search", {"role": "lead"}),
        ("search_tickets", "POST", "/tickets/search", {"json_query": {"field": "open",
                                                      "operator": "=", "value": True}}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("read_ahead", [False, True], ids=["one page at a time", "read ahead"])
def test_a_repeating_cursor_stops_the_loop(
    recorder: Recorder,
    connector: Connector,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    method: str,
    path: str,
    inputs: dict[str, object],
    read_ahead: bool,
) -> None:
    # Whether Fetch All reads ahead depends on how long a round trip took (READ_AHEAD_AFTER),
    # which a loaded machine stretches: each way is pinned, so the count does not depend on it.
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0 if read_ahead else float("inf"))
    records = "tickets" if action == "search_tickets" else "data"

    def same_page_again(request: httpx.Request) -> httpx.Response:
        # Without the guard the loop would never end: answer a last page instead of hanging
        # the suite, and the count below tells
        answer = page(["1"], "same" if len(recorder.requests) <= 5 else None)
        answer[records] = answer.pop("data")
        return httpx.Response(200, json=answer)

    recorder.respond(method, path, same_page_again)
    with caplog.at_level(logging.WARNING):
        result = connector.invoke(action, {**inputs, "fetch_all": True})
    result["data"]["data"] = result["data"].pop(records)
    assert len(recorder.requests) == 2  # reading ahead too: the repeated cursor is not followed
    assert [c["id"] for c in result["data"]["data"]] == ["1", "1"]
    assert "repeated a cursor" in caplog.text


@pytest.mark.parametrize(
    ("action", "method", "path", "inputs"),
    [
        ("list_contacts", "GET", "/contacts", {}),
        ("search_contacts", "POST", "/contacts/search", {"role": "lead"}),
    ],
)
@pytest.mark.parametrize("read_ahead", [False, True], ids=["one page at a time", "read ahead"])
def test_a_cursor_loop_that_spares_the_first_cursor_stops_too(
    recorder: Recorder, connector: Connector, monkeypatch: pytest.MonkeyPatch, action: str,
    method: str, path: str, inputs: dict[str, object], read_ahead: bool,
) -> None:  # fmt: skip
    """Cursors a, b, c, b: the walk stops at the second b, whichever cursor the loop
    comes back to (not only the first one, which a search's split remembers anyway)."""
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0 if read_ahead else float("inf"))
    cursors = ["a", "b", "c", "b", "c", "b", "c", "b"]

    def looping(request: httpx.Request) -> httpx.Response:
        count = len(recorder.requests)  # no guard: a last page after 8, not a hang
        return httpx.Response(
            200, json=page([str(count)], cursors[count - 1] if count < 8 else None)
        )

    recorder.respond(method, path, looping)
    result = connector.invoke(action, {**inputs, "fetch_all": True})
    assert [c["id"] for c in result["data"]["data"]] == ["1", "2", "3", "4"]
    assert len(recorder.requests) == 4


def test_fetch_all_companies_pages_by_number_keeping_filters(
    recorder: Recorder, connector: Connector
) -> None:
    def by_page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        data = [{"id": f"{number}-{i}"} for i in range(2 if number < 3 else 1)]
        pages = {"type": "pages", "page": number, "per_page": 2, "total_pages": 3}
        return httpx.Response(200, json={"type": "list", "data": data, "pages": pages})

    recorder.respond("GET", "/companies", by_page)
    result = connector.invoke("list_companies", {"fetch_all": True, "per_page": 2, "tag_id": "9"})
    assert [c["id"] for c in result["data"]["data"]] == ["1-0", "1-1", "2-0", "2-1", "3-0"]
    assert [query_of(r) for r in recorder.requests] == [
        {"tag_id": ["9"], "per_page": ["2"], "page": [str(n)]} for n in (1, 2, 3)
    ]


def test_fetch_all_companies_past_ten_thousand_uses_the_scroll_api(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on(
        "POST",
        "/companies/list",
        {
            "type": "list",
            "data": [{"id": "p"}],
            "total_count": 10_001,
            "pages": {"total_pages": 700},
        },
    )
    scroll = {
        None: {"type": "list", "data": [{"id": "s1"}], "scroll_param": "sp1"},
        "sp1": {"type": "list", "data": [{"id": "s2"}], "scroll_param": "sp2"},
        "sp2": {"type": "list", "data": [], "scroll_param": "sp3"},
    }
    recorder.respond(
        "GET",
        "/companies/scroll",
        lambda r: httpx.Response(200, json=scroll[r.url.params.get("scroll_param")]),
    )
    result = connector.invoke("list_companies", {"fetch_all": True})
    assert [c["id"] for c in result["data"]["data"]] == ["s1", "s2"]


def test_verbose_trace_redacts_the_token(
    recorder: Recorder, connector: Connector, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    with caplog.at_level(logging.DEBUG, logger="intercom_connector"):
        connector.invoke("list_tags")
    assert "-> GET https://api.intercom.io/tags" in caplog.text
    assert "Bearer ********" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(connector) and TOKEN not in repr(connector.client)


def test_attempts_are_configured_per_connection(recorder: Recorder) -> None:
    recorder.on("GET", "/tags", error_body("server_error", "boom"), status=503)
    connection = {"type": "access_token", "access_token": TOKEN, "max_attempts": "2",
                  "max_retry_seconds": 30}  # fmt: skip
    with Connector(connection, transport=httpx.MockTransport(recorder)) as connector:
        assert connector.client.retry.max_total_seconds == 30
        with pytest.raises(ServerError, match=r"503 server_error on GET /tags: boom \(after 2"):
            connector.invoke("list_tags")
    assert len(recorder.requests) == 2


def test_a_create_answered_with_a_server_error_says_its_outcome_is_unknown(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/tickets", error_body("server_error", "boom"), status=500)
    with pytest.raises(ServerError, match="outcome is unknown, so it was not repeated"):
        connector.invoke("create_ticket", {"ticket_type_id": "1", "contact_id": "a@b.example"})
    assert len(recorder.requests) == 1


def test_numbered_pages_are_fetched_side_by_side_and_kept_in_order(recorder: Recorder) -> None:
    # What is counted is how many requests were on their way at once, not how long it took
    # (a loaded machine stretches times, never this count).
    lock = threading.Lock()
    on_their_way = {"now": 0, "most": 0}

    def slow_page(request: httpx.Request) -> httpx.Response:
        with lock:
            on_their_way["now"] += 1
            on_their_way["most"] = max(on_their_way["most"], on_their_way["now"])
        time.sleep(0.05)
        with lock:
            on_their_way["now"] -= 1
        number = int(request.url.params["page"])
        pages = {"type": "pages", "page": number, "per_page": 1, "total_pages": 12}
        return httpx.Response(
            200, json={"type": "list", "data": [{"id": str(number)}], "pages": pages}
        )

    recorder.respond("POST", "/companies/list", slow_page)
    connection = {"type": "access_token", "access_token": TOKEN}
    most = {}
    for width in (1, 8):
        on_their_way["most"] = 0
        with Connector(
            connection, transport=httpx.MockTransport(recorder), max_concurrency=width
        ) as c:
            result = c.invoke("list_companies", {"fetch_all": True, "per_page": 1})
        most[width] = on_their_way["most"]
        assert [x["id"] for x in result["data"]["data"]] == [str(n) for n in range(1, 13)]
    assert most[1] == 1 and 4 <= most[8] <= 8


def test_a_wrong_read_ahead_guess_is_thrown_away(
    recorder: Recorder, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)  # read ahead on every page
    # A custom attribute shaped like Intercom's paging, after the real paging (the guess
    # looks from the end, where Intercom puts it), fools the raw read-ahead guess.
    decoy = {"custom_attributes": {"next": {"starting_after": "decoy"}}}

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("starting_after")
        if cursor == "decoy":
            return httpx.Response(
                200, json={"type": "list", "data": [{"id": "WRONG"}], "pages": {}}
            )
        if cursor is None:
            pages = {"type": "pages", "next": {"per_page": 1, "starting_after": "c1"}}
            return httpx.Response(200, json={"pages": pages, "data": [{"id": "1", **decoy}]})
        return httpx.Response(200, json={"type": "list", "data": [{"id": "2"}], "pages": {}})

    recorder.respond("GET", "/contacts", answer)
    result = connector.invoke("list_contacts", {"fetch_all": True, "per_page": 1})
    assert [c["id"] for c in result["data"]["data"]] == ["1", "2"]
    cursors = [r.url.params.get("starting_after") for r in recorder.requests]
    assert "decoy" in cursors and cursors.count("c1") == 1  # guessed, thrown away, corrected


def _loopback_connector(server: LoopbackIntercom) -> Connector:
    connection = {"type": "access_token", "access_token": TOKEN, "base_url": server.url}
    return Connector(connection, retry=FAST)


def test_reading_ahead_sends_the_next_request_before_handing_a_page_over(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)
    book = {None: page(["1", "2"], "c1"), "c1": page(["3", "4"], None)}

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("starting_after")
        if cursor == "c1":
            time.sleep(0.5)  # page 2 is slow to come
        return httpx.Response(200, json=book[cursor])

    events: list[str] = []
    written = client_module._on_written

    def on_written(sent: Any) -> Any:
        trace = written(sent)

        def noted(event: str, info: Any) -> None:
            if event.endswith("send_request_body.complete"):
                events.append("request written")
            trace(event, info)

        return noted

    monkeypatch.setattr(client_module, "_on_written", on_written)
    recorder.respond("GET", "/contacts", answer)
    server = LoopbackIntercom(recorder)
    try:
        with _loopback_connector(server) as intercom:
            started = time.monotonic()
            stream = iter(intercom.stream("list_contacts", {"fetch_all": True, "per_page": 2}))
            assert next(stream)["id"] == "1"
            events.append("page 1 handed over")
            # over a real socket: page 2's request was written first, its answer not awaited
            assert events == ["request written", "page 1 handed over"]
            assert time.monotonic() - started < 0.4
            assert [c["id"] for c in stream] == ["2", "3", "4"]
    finally:
        server.close()


def test_an_error_read_ahead_comes_after_the_pages_before_it(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)
    book = {None: page(["1", "2"], "c1"), "c1": page(["3", "4"], "c2")}

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("starting_after")
        if cursor in book:
            return httpx.Response(200, json=book[cursor])
        return httpx.Response(404, json=error_body("not_found", "cursor expired"))

    recorder.respond("GET", "/contacts", answer)
    server = LoopbackIntercom(recorder)
    seen: list[str] = []
    try:
        with _loopback_connector(server) as intercom, pytest.raises(NotFoundError, match="expired"):
            for record in intercom.stream("list_contacts", {"fetch_all": True, "per_page": 2}):
                seen.append(record["id"])
    finally:
        server.close()
    assert seen == ["1", "2", "3", "4"]


def test_a_caller_that_stops_early_stops_the_reading_ahead(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)
    book = {
        None: page(["1"], "c1"),
        **{f"c{n}": page([str(n + 1)], f"c{n + 1}") for n in range(1, 50)},
    }
    recorder.respond(
        "GET",
        "/contacts",
        lambda r: httpx.Response(200, json=book[r.url.params.get("starting_after")]),
    )
    server = LoopbackIntercom(recorder)
    try:
        with _loopback_connector(server) as intercom:
            stream = iter(intercom.stream("list_contacts", {"fetch_all": True, "per_page": 1}))
            assert [next(stream)["id"] for _ in range(3)] == ["1", "2", "3"]
            stream.close()  # type: ignore[attr-defined]
            asked = len(recorder.requests)
            time.sleep(0.1)
            assert len(recorder.requests) == asked <= 5  # at most a page ahead, then no more
            assert not [t for t in threading.enumerate() if t.name == "next-page"]
    finally:
        server.close()


def test_reading_ahead_never_asks_for_a_page_past_the_callers_limit(
    recorder: Recorder, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)
    cursor_pages(recorder, "GET", "/contacts", lambda r: r.url.params.get("starting_after"))
    with pytest.raises(ResultTooLargeError):
        connector.invoke("list_contacts", {"fetch_all": True, "per_page": 2}, max_records=3)
    # page 2 was read ahead (it may hold the third record); page 3 could only go past 3
    assert [r.url.params.get("starting_after") for r in recorder.requests] == [None, "c1"]
    recorder.requests.clear()
    result = connector.invoke("list_contacts", {"fetch_all": True, "per_page": 2}, max_records=5)
    assert len(result["data"]["data"]) == 5  # a limit the list stays within reads it all


def test_reading_ahead_asks_for_each_page_once(
    recorder: Recorder, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)
    cursor_pages(recorder, "GET", "/contacts", lambda r: r.url.params.get("starting_after"))
    result = connector.invoke("list_contacts", {"fetch_all": True, "per_page": 2})
    assert [c["id"] for c in result["data"]["data"]] == ["1", "2", "3", "4", "5"]
    assert [r.url.params.get("starting_after") for r in recorder.requests] == [None, "c1", "c2"]


def test_the_request_ids_a_caller_gathers_include_pages_fetched_on_other_threads(
    recorder: Recorder, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service logs the ids of Intercom's answers to each call: a Fetch All's pages read
    ahead, or side by side, are fetched on other threads and are named too."""
    monkeypatch.setattr(paging_module, "READ_AHEAD_AFTER", 0.0)
    book = {None: page(["1", "2"], "c1"), "c1": page(["3", "4"], "c2"), "c2": page(["5"], None)}

    def contacts(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("starting_after")
        return httpx.Response(200, json=book[cursor], headers={"X-Request-Id": f"rid-{cursor}"})

    def companies(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        pages = {"type": "pages", "page": number, "per_page": 1, "total_pages": 6}
        listed = {"type": "list", "data": [{"id": str(number)}], "pages": pages}
        return httpx.Response(200, json=listed, headers={"X-Request-Id": f"rid-p{number}"})

    recorder.respond("GET", "/contacts", contacts)
    recorder.respond("POST", "/companies/list", companies)
    for action, expected in (
        ("list_contacts", {"rid-None", "rid-c1", "rid-c2"}),
        ("list_companies", {f"rid-p{n}" for n in range(1, 7)}),
    ):
        gathered: list[str] = []
        token = client_module.request_ids.set(gathered)
        try:
            connector.invoke(
                action, {"fetch_all": True, "per_page": 2 if "contacts" in action else 1}
            )
        finally:
            client_module.request_ids.reset(token)
        assert set(gathered) == expected, action
