"""Raw Request: the seed's inputs and semantics, and the token never leaves its host."""

from __future__ import annotations

import base64

import httpx
import pytest
from support import TOKEN, Recorder, query_of

from intercom_connector import Connector
from intercom_connector.runtime.errors import (
    InputValidationError,
    IntercomAPIError,
    ServerError,
    TransportError,
)


def raw(connector: Connector, **inputs: object) -> dict[str, object]:
    result: dict[str, object] = connector.invoke("raw_request", inputs)["data"]
    return result


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/contacts",
        "http://api.intercom.io/contacts",  # same host, but not https
        "https://api.intercom.io.evil.example/contacts",
        "https://api.eu.intercom.io/contacts",  # another region's host
    ],
)
def test_another_host_is_refused_and_nothing_is_sent(
    url: str, recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError, match=r"URL \(url\): points at .*not this connection"):
        raw(connector, url=url, method="GET")
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("//evil.example/contacts", "https://evil.example"),
        ("//api.intercom.io.evil.example/contacts", "https://api.intercom.io.evil.example"),
        ("//api.intercom.io:8443/contacts", "https://api.intercom.io:8443"),
    ],
)
def test_a_scheme_relative_url_names_a_host_and_is_refused_unless_it_is_the_api_host(
    url: str, shown: str, recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        raw(connector, url=url, method="GET")
    assert str(excinfo.value).endswith(
        f"URL (url): points at {shown}, not this connection's API host "
        "https://api.intercom.io; give a path such as /contacts instead"
    )
    assert recorder.requests == []


def test_a_scheme_relative_url_to_the_api_host_is_sent_there(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("GET", "/admins", {"type": "admin.list", "admins": []})
    assert raw(connector, url="//api.intercom.io/admins", method="GET")["status"] == 200
    assert str(recorder.last.url) == "https://api.intercom.io/admins"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9090/admins", "//127.0.0.1:9090/admins"])
def test_hosts_that_differ_only_by_port_are_told_apart(url: str, recorder: Recorder) -> None:
    connection = {
        "type": "access_token",
        "access_token": TOKEN,
        "base_url": "http://127.0.0.1:8080",
    }
    with (
        Connector(connection, transport=httpx.MockTransport(recorder)) as connector,
        pytest.raises(InputValidationError) as excinfo,
    ):
        raw(connector, url=url, method="GET")
    assert (
        "URL (url): points at http://127.0.0.1:9090, not this connection's API host "
        "http://127.0.0.1:8080;" in str(excinfo.value)
    )
    assert recorder.requests == []


def test_an_absolute_url_on_the_api_host_is_accepted(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("GET", "/admins", {"type": "admin.list", "admins": []})
    result = raw(connector, url="https://api.intercom.io/admins", method="GET")
    assert result["status"] == 200
    assert recorder.last.headers["Authorization"] == f"Bearer {TOKEN}"


def test_relative_urls_with_or_without_a_slash(recorder: Recorder, connector: Connector) -> None:
    recorder.on("GET", "/admins", {})
    raw(connector, url="admins", method="GET")
    raw(connector, url="/admins", method="GET")
    assert [str(r.url) for r in recorder.requests] == ["https://api.intercom.io/admins"] * 2


def test_query_parameters_and_headers(recorder: Recorder, connector: Connector) -> None:
    recorder.on("GET", "/contacts", {"type": "list", "data": []})
    raw(
        connector,
        url="/contacts",
        method="GET",
        query_params=[{"key": "per_page", "value": "5"}, {"key": "tag", "value": "a b"}],
        headers={"X-Custom": "yes"},
    )
    assert query_of(recorder.last) == {"per_page": ["5"], "tag": ["a b"]}
    assert recorder.last.headers["X-Custom"] == "yes"
    assert recorder.last.headers["Intercom-Version"] == "2.16"


@pytest.mark.parametrize(
    ("url", "pairs", "sent"),
    [
        ("/contacts?per_page=1", None, {"per_page": ["1"]}),
        (
            "/contacts?per_page=1&tag=x%20y",
            [{"key": "tag", "value": "z"}, {"key": "email", "value": "a@b.c"}],
            {"per_page": ["1"], "tag": ["x y", "z"], "email": ["a@b.c"]},
        ),
        ("https://api.intercom.io/contacts?per_page=2", [], {"per_page": ["2"]}),
    ],
)
def test_the_urls_own_query_is_kept_and_the_query_parameters_follow_it(
    url: str,
    pairs: list[dict[str, str]] | None,
    sent: dict[str, list[str]],
    recorder: Recorder,
    connector: Connector,
) -> None:
    recorder.on("GET", "/contacts", {"type": "list", "data": []})
    raw(connector, url=url, method="GET", query_params=pairs)
    assert query_of(recorder.last) == sent
    assert recorder.last.url.path == "/contacts"


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-A": "b\r\nEvil: 1"}, "the value of 'X-A' must be one line of plain ASCII text"),
        ({"X-A": "b\nEvil: 1"}, "the value of 'X-A' must be one line of plain ASCII text"),
        ({"X-A": "b\x00Evil"}, "the value of 'X-A' must be one line of plain ASCII text"),
        ({"X-A": "Evil ünï"}, "the value of 'X-A' must be one line of plain ASCII text"),
        ({"X A": "b"}, "'X A' is not a header name"),
        ({"X-A:": "b"}, "'X-A:' is not a header name"),
        ({"X-A\r\nEvil": "b"}, "'X-A\\r\\nEvil' is not a header name"),
    ],
)
def test_a_header_http_cannot_carry_is_refused_and_nothing_is_sent(
    headers: dict[str, str], problem: str, recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        raw(connector, url="/admins", method="GET", headers=headers)
    message = str(excinfo.value)
    assert f"Header (headers): {problem}" in message
    assert "ünï" not in message and "Evil:" not in message  # a value is never echoed
    assert excinfo.value.exit_code == 2
    assert recorder.requests == []


def test_header_values_keep_inner_spaces_and_lose_outer_ones(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("GET", "/admins", {})
    raw(connector, url="/admins", method="GET", headers={"X-A": "  one\ttwo  three "})
    assert recorder.last.headers["X-A"] == "one\ttwo  three"


def test_line_breaks_in_query_parameters_are_encoded_not_sent_raw(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.on("GET", "/contacts", {"type": "list", "data": []})
    raw(connector, url="/contacts", method="GET", query_params={"a\r\nb": "c\r\nd"})
    assert recorder.last.url.query == b"a%0D%0Ab=c%0D%0Ad"
    assert query_of(recorder.last) == {"a\r\nb": ["c\r\nd"]}


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        (
            {"url": "/contacts/" + "a" * 70_000},
            "URL (url): is too long to send (70,010 characters)",
        ),
        (
            {"url": "/contacts", "query_params": {"email": "a" * 70_000}},
            "Query Parameter (query_params): 'email' is too long to send in a URL "
            "(70,000 characters)",
        ),
    ],
)
def test_a_url_too_long_is_refused_naming_the_input(
    inputs: dict[str, object], problem: str, recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        raw(connector, method="GET", **inputs)
    assert problem in str(excinfo.value)
    assert recorder.requests == []


def test_multipart_form_and_files_with_names(recorder: Recorder, connector: Connector) -> None:
    recorder.on("POST", "/upload", {"ok": True})
    raw(
        connector,
        url="/upload",
        method="POST",
        form_data={"kind": "csv"},
        file_data={"file": "id,name\n1,Ada\n", "other": "x"},
        file_data_file_names={"file": "people.csv"},
    )
    request = recorder.last
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = request.content.decode()
    assert 'name="kind"\r\n\r\ncsv' in body
    assert 'name="file"; filename="people.csv"' in body and "id,name\n1,Ada\n" in body
    assert 'name="other"; filename="other"' in body


def test_file_names_must_match_file_data(recorder: Recorder, connector: Connector) -> None:
    with pytest.raises(InputValidationError, match="keys missing match no File Data key"):
        raw(
            connector,
            url="/upload",
            method="POST",
            file_data={"file": "x"},
            file_data_file_names={"missing": "a.txt"},
        )
    with pytest.raises(
        InputValidationError, match="Data \\(data\\): is not sent when Form Data is given"
    ):
        raw(connector, url="/upload", method="POST", data="{}", form_data={"a": "b"})
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("response_type", "expected"),
    [
        ("text", "plain words"),
        (
            "binary",
            {"content_type": "text/plain", "base64": base64.b64encode(b"plain words").decode()},
        ),
    ],
)
def test_response_types(
    response_type: str, expected: object, recorder: Recorder, connector: Connector
) -> None:
    recorder.respond(
        "GET",
        "/export",
        lambda request: httpx.Response(
            200, content=b"plain words", headers={"Content-Type": "text/plain"}
        ),
    )
    result = raw(connector, url="/export", method="GET", response_type=response_type)
    assert result["data"] == expected
    assert result["headers"]["content-type"] == "text/plain"  # type: ignore[index]


def test_set_cookie_answer_headers_are_not_passed_on(
    recorder: Recorder, connector: Connector
) -> None:
    answer_headers = [
        ("Set-Cookie", "session=abc123; HttpOnly"),
        ("set-cookie", "other=def456"),
        ("X-Request-Id", "req-9"),
    ]
    recorder.respond(
        "GET", "/admins", lambda request: httpx.Response(200, json={}, headers=answer_headers)
    )
    result = raw(connector, url="/admins", method="GET")
    headers = result["headers"]
    assert isinstance(headers, dict)
    assert headers["x-request-id"] == "req-9"
    assert not [name for name in headers if name.lower() == "set-cookie"]
    assert "abc123" not in str(result) and "def456" not in str(result)


def test_json_expected_but_not_given(recorder: Recorder, connector: Connector) -> None:
    recorder.respond("GET", "/export", lambda request: httpx.Response(200, content=b"<html>"))
    with pytest.raises(IntercomAPIError, match="set Response Type to text or binary"):
        raw(connector, url="/export", method="GET")


def flaky(statuses: list[int]) -> object:
    answers = iter(statuses)

    def answer(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        body = {"type": "error.list", "errors": [{"code": "x", "message": str(status)}]}
        return httpx.Response(status, json=body if status >= 400 else {"ok": True})

    return answer


def test_no_retry_by_default_even_for_a_server_error(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.respond("GET", "/admins", flaky([503, 200]))  # type: ignore[arg-type]
    with pytest.raises(ServerError):
        raw(connector, url="/admins", method="GET")
    assert len(recorder.requests) == 1


def test_max_retry_count_retries_server_errors(recorder: Recorder, connector: Connector) -> None:
    recorder.respond("POST", "/things", flaky([500, 502, 200]))  # type: ignore[arg-type]
    result = raw(connector, url="/things", method="POST", max_retry_count=2, retry_delay_ms=1)
    assert result["status"] == 200 and len(recorder.requests) == 3


def test_client_errors_are_retried_only_with_retry_on_all_errors(
    recorder: Recorder, connector: Connector
) -> None:
    recorder.respond("GET", "/a", flaky([409, 200]))  # type: ignore[arg-type]
    with pytest.raises(IntercomAPIError, match="409"):
        raw(connector, url="/a", method="GET", max_retry_count=3)
    recorder.respond("GET", "/b", flaky([409, 429, 200]))  # type: ignore[arg-type]
    result = raw(connector, url="/b", method="GET", max_retry_count=3, retry_on_all_errors=True)
    assert result["status"] == 200
    assert len(recorder.requests) == 4


def test_network_errors_are_retried_when_asked(recorder: Recorder, connector: Connector) -> None:
    calls = iter([True, True, False])

    def drop(request: httpx.Request) -> httpx.Response:
        if next(calls):
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={})

    recorder.respond("GET", "/slow", drop)
    assert raw(connector, url="/slow", method="GET", max_retry_count=2)["status"] == 200
    recorder.respond(
        "GET", "/slower", lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("x", request=r))
    )
    with pytest.raises(TransportError, match="ReadTimeout"):
        raw(connector, url="/slower", method="GET")


def test_timeout_is_in_milliseconds(recorder: Recorder, connector: Connector) -> None:
    recorder.on("GET", "/admins", {})
    raw(connector, url="/admins", method="GET", timeout=2500)
    assert recorder.last.extensions["timeout"]["read"] == 2.5
