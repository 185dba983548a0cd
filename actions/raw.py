"""Raw Request: any call to the connection's Intercom API host, with the seed's semantics.

An input that cannot make a request is refused with InputRefusal naming its key; the
shim reports it under the input's label from the manifest.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from intercom_connector.runtime.client import IntercomClient, RequestRetry, json_body
from intercom_connector.runtime.errors import InputRefusal, cut
from intercom_connector.runtime.manifest import load_manifest

# Answer headers a later flow step has no use for and that could carry session state.
_HIDDEN_HEADERS = {"set-cookie"}
#: RFC 9110 token: what a header name may be made of
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
#: visible ASCII words, spaces or tabs between them: one line, no control character
_HEADER_VALUE = re.compile(r"([\x21-\x7e]+([ \t]+[\x21-\x7e]+)*)?")


def _origin(url: httpx.URL) -> str:
    return cut(f"{url.scheme}://{url.netloc.decode('ascii')}")  # the port too, when given


def _same_host_url(client: IntercomClient, url: str) -> str:
    """``url`` relative to the API base, or naming that very host (the token goes nowhere
    else); anything else is refused before a request is built."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        if "too long" in str(exc):
            raise InputRefusal("url", f"is too long to send ({len(url):,} characters)") from None
        raise InputRefusal("url", f"is not a valid URL ({exc})") from None
    if not target.host:
        return url
    base = client.base_url
    if not target.scheme:  # //host/path names a host as surely as https://host/path does
        target = httpx.URL(f"{base.scheme}:{url}")
    if target.userinfo:  # never shown: it holds a password
        raise InputRefusal(
            "url", "must not hold a user name or password (user:password@); give a path"
        )
    if not client.on_api_host(str(target)):
        raise InputRefusal(
            "url",
            f"points at {_origin(target)}, not this connection's API host "
            f"{_origin(base)}; give a path such as /contacts instead",
        )
    return str(target)


def _headers(items: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    """The Header input's pairs; a name or value HTTP cannot carry is refused, unsent."""
    pairs = []
    for name, value in _pairs(items):
        shown = repr(name) if len(name) <= 40 else repr(name[:37] + "...")
        if not _HEADER_NAME.fullmatch(name):
            raise InputRefusal(
                "headers",
                f"{shown} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            )
        value = value.strip(" \t")
        if not _HEADER_VALUE.fullmatch(value):
            # The value itself is never shown: a header may carry a key or a token.
            raise InputRefusal(
                "headers",
                f"the value of {shown} must be one line of plain ASCII text "
                "(no line break, control or non-ASCII character)",
            )
        pairs.append((name, value))
    return pairs


def _pairs(items: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    return [(item["key"], item["value"]) for item in items or []]


def _multipart(
    form_data: list[dict[str, str]] | None,
    file_data: list[dict[str, str]] | None,
    file_names: list[dict[str, str]] | None,
) -> dict[str, Any]:
    names = dict(_pairs(file_names))
    files = _pairs(file_data)
    unknown = sorted(set(names) - {key for key, _ in files})
    if unknown:
        # not declarable in the manifest: a relation between two lists' keys
        raise InputRefusal(
            "file_data_file_names",
            f"keys {', '.join(unknown)} match no {{file_data}} key",
        )
    fields: dict[str, list[str]] = {}
    for key, value in _pairs(form_data):
        fields.setdefault(key, []).append(value)  # a key given twice is sent twice
    return {
        "data": fields,
        "files": [(key, (names.get(key, key), content.encode())) for key, content in files],
    }


def _label(key: str) -> str:
    """An input's label, from connector.yaml (the one place labels are written)."""
    return load_manifest().action("raw_request").input(key).label


def _decoded(response: httpx.Response, response_type: str, method: str, url: str) -> Any:
    if response_type == "binary":
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return {"content_type": content_type, "base64": base64.b64encode(response.content).decode()}
    if response_type == "text":
        return response.text
    return json_body(response, method, url, f"; set {_label('response_type')} to text or binary")


def raw_request(
    client: IntercomClient,
    *,
    url: str,
    method: str,
    data: Any,
    form_data: list[dict[str, str]] | None,
    file_data: list[dict[str, str]] | None,
    file_data_file_names: list[dict[str, str]] | None,
    query_params: list[dict[str, str]] | None,
    headers: list[dict[str, str]] | None,
    response_type: str,
    timeout: int | None,
    retry_delay_ms: int,
    retry_on_all_errors: bool,
    max_retry_count: int,
    use_exponential_backoff: bool,
) -> Any:
    """Send the request as described and return its status, headers and decoded body."""
    target = _same_host_url(client, url)
    # The URL's own query is kept, and the Query Parameter pairs follow it (a key in both is
    # sent twice, as requests and a browser's form do): httpx would replace it with them.
    own = httpx.URL(target)
    params = [*own.params.multi_items(), *_pairs(query_params)]
    if own.query:
        target = str(own.copy_with(query=None))
    options: dict[str, Any] = {"params": params, "headers": _headers(headers)}
    if form_data or file_data:  # never with Data: the manifest's rule
        options.update(_multipart(form_data, file_data, file_data_file_names))
    elif data is not None:
        options["json"] = data
    if timeout is not None:
        options["timeout"] = timeout / 1000.0
    retry = RequestRetry(
        max_retries=max_retry_count,
        delay_ms=retry_delay_ms,
        exponential=use_exponential_backoff,
        on_all_errors=retry_on_all_errors,
    )
    try:
        # The retry inputs are the user's explicit choice, for every method.
        response = client.send(method, target, idempotent=True, retry=retry, **options)
    except InputRefusal as exc:
        if exc.key is None:
            raise
        # The client names the query parameter that made the URL too long.
        raise InputRefusal("query_params", f"{exc.key!r} {exc.problem}") from None
    return {
        "status": response.status_code,
        "headers": {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in _HIDDEN_HEADERS
        },
        "data": _decoded(response, response_type, method, target),
    }
