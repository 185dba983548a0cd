"""How each kind of operation runs, once for all of them.

A handler (or a ``request:`` declared in the manifest) says which request an action
makes; what follows is the runtime's:

- a **request** action sends it and returns Intercom's answer;
- a **list** action pages it by its declared style -- ``cursor`` (``starting_after`` in
  the query), ``search`` (the cursor in the body), ``page_number`` (``page`` counting up;
  Intercom's scroll API past 10,000 where the request names one), ``link`` (the answer's
  ``pages.next`` is the next page's URL) or ``none`` -- and owns
  Fetch All, Page, Per Page, Starting After and the one list envelope;
- a **data source** pages its request until it has ``limit`` records and turns each into
  a choice ``{"key", "label"}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Any, NamedTuple

from intercom_connector.runtime.client import IntercomClient, build_path
from intercom_connector.runtime.errors import InputRefusal
from intercom_connector.runtime.frozen import frozen
from intercom_connector.runtime.listing import Page, RecordStream, nth_page
from intercom_connector.runtime.manifest import (
    ActionSpec,
    DataSourceSpec,
    Paging,
    RequestTemplate,
)

#: Intercom pages through at most 10,000 companies; its scroll API goes beyond.
PAGED_LIMIT = 10_000


@frozen
class Request:
    """One request as a handler describes it; the runtime sends or pages it.

    ``paging`` overrides the action's declared style (List Contacts in ascending order
    is a search); ``scroll_path`` is where a numbered list continues past 10,000.
    ``inputs`` names the input each query or body field comes from, where the field is
    called otherwise, so that a value refused as sent is named by its input.
    """

    method: str
    path: str
    path_params: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    idempotent: bool | None = None
    paging: str | None = None
    scroll_path: str | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: a create Intercom refuses to repeat: where the record a 409 names is read
    #: (``IntercomClient.create``); None for any other request
    unique_read: str | None = None


def given(**fields: Any) -> dict[str, Any]:
    """The fields that were given: an input left empty is not sent (never sent as null)."""
    return {key: value for key, value in fields.items() if value is not None}


def from_template(template: RequestTemplate, values: Mapping[str, Any]) -> Request:
    """The request a ``request:`` entry of the manifest describes, filled with ``values``."""
    idempotent = template.idempotent
    if template.idempotent_if is not None:
        idempotent = values.get(template.idempotent_if) is not None
    body = None
    if template.body is not None:
        body = given(**{wire: values.get(key) for wire, key in template.body.items()})
    fields = {**template.query, **(template.body or {})}
    unique = any(values.get(key) not in (None, "") for key in template.unique_by) and not any(
        values.get(key) == value for key, value in template.unique_unless.items()
    )
    return Request(
        method=template.method,
        path=template.path,
        path_params={key: values[key] for key in template.path_inputs},
        query=given(**{wire: values.get(key) for wire, key in template.query.items()}),
        body=body,
        idempotent=idempotent,
        inputs={wire: key for wire, key in fields.items() if wire != key},
        unique_read=template.unique_read if unique else None,
    )


def _by_input(request: Request, refusal: InputRefusal) -> InputRefusal:
    """A refusal of a field sent under another name, named by the input it comes from."""
    key = request.inputs.get(refusal.key or "")
    return InputRefusal(key, refusal.problem) if key else refusal


def send(client: IntercomClient, request: Request, since: float | None = None) -> Any:
    """Send one request; Intercom's decoded answer.

    ``since``: an earlier run sent this request at that unix time and its answer was lost
    (a create with a unique value is settled by it; see ``IntercomClient.create``).
    """
    try:
        if request.unique_read is not None and request.body is not None:
            return client.create(
                request.path,
                json=request.body,
                read=request.unique_read,
                path_params=request.path_params,
                params=dict(request.query) or None,
                since=since,
            )
        return client.request(
            request.method,
            request.path,
            path_params=request.path_params,
            params=dict(request.query) or None,
            json=request.body,
            idempotent=request.idempotent,
        )
    except InputRefusal as refusal:
        raise _by_input(request, refusal) from None


class PagingValues(NamedTuple):
    """The paging inputs of one list call, as validated (absent ones None)."""

    fetch_all: bool = False
    page: int | None = None
    per_page: int | None = None
    starting_after: str | None = None
    #: the Per Page to use when neither the input nor the request's own body gives one
    default_per_page: int | None = None


def pages(
    client: IntercomClient,
    request: Request,
    style: str,
    at: PagingValues,
    split_by: str | None = None,
    records: str = "data",
) -> Iterator[Page]:
    """Every page of ``request`` from where ``at`` says, in order, per its paging style.

    ``split_by``: a Fetch All of a search from its start may fetch ranges of that
    creation-time field side by side (runtime/search_ranges.py). A Fetch All from the
    start with no sort given asks for one by ``split_by``, oldest first: the split needs
    an order it can count on, and Intercom's own is not documented.
    """
    walk = _pages(client, request, style, at, split_by, records)
    try:
        yield from walk
    except InputRefusal as refusal:
        raise _by_input(request, refusal) from None


def _pages(
    client: IntercomClient,
    request: Request,
    style: str,
    at: PagingValues,
    split_by: str | None,
    records: str,
) -> Iterator[Page]:
    if style == "cursor":
        query = {**request.query, **given(per_page=at.per_page or at.default_per_page)}
        return client.paginate_cursor(
            request.path,
            path_params=request.path_params,
            params=query,
            starting_after=at.starting_after,
            read_ahead=at.fetch_all,
        )
    if style == "search":
        body = dict(request.body or {})
        pagination = dict(body.get("pagination") or {})
        per_page = at.per_page or pagination.get("per_page") or at.default_per_page
        pagination.update(given(per_page=per_page, starting_after=at.starting_after))
        body["pagination"] = pagination
        if split_by and at.fetch_all and not at.starting_after:
            body.setdefault("sort", {"field": split_by, "order": "ascending"})
            from intercom_connector.runtime.search_ranges import search_pages  # a split search

            return search_pages(
                client,
                request.path,
                body,
                field=split_by,
                records=records,
                path_params=request.path_params,
            )
        return client.paginate_search(request.path, path_params=request.path_params, body=body)
    if style == "page_number":
        query = {**request.query, **given(per_page=at.per_page or at.default_per_page)}
        return client.paginate_pages(
            request.method,
            request.path,
            path_params=request.path_params,
            params=query,
            first_page=_first_page(at),
        )
    if style == "scroll":
        return _scroll(client, build_path(request.path, request.path_params))
    if style == "link":
        link = at.starting_after
        if link is not None and not client.on_api_host(link):
            raise InputRefusal(
                "starting_after",
                "must be the link a previous output gives in pages.next, on this "
                "connection's API host",
            )
        query = {**request.query, **given(per_page=at.per_page or at.default_per_page)}
        return client.paginate_links(
            request.path, path_params=request.path_params, params=query, link=link
        )
    return iter([send(client, request)])


def _first_page(at: PagingValues) -> int:
    # A numbered list's cursor is the next page's number (its own output hands it on).
    return int(at.starting_after) if at.starting_after else at.page or 1


def _scroll(client: IntercomClient, path: str) -> Iterator[Page]:
    """Every page of a scroll list, until a page comes back empty."""
    params: dict[str, str] = {}
    while True:
        page = client.request("GET", path, params=params)
        if not page or not page.get("data"):
            return
        yield page
        params = {"scroll_param": page["scroll_param"]}


def _with_next_page_number(page: Page, number: int, size: int) -> Page:
    # Intercom pages numbered lists by number; the cursor handed on is the next page's.
    info = dict(page.get("pages") or {"type": "pages"})
    total = info.get("total_pages")
    info.pop("next", None)
    if isinstance(total, int) and number < total:
        info["next"] = {"per_page": size, "starting_after": str(number + 1)}
    return {**page, "pages": info}


def run_list(
    client: IntercomClient, action: ActionSpec, request: Request, at: PagingValues
) -> Page | RecordStream:
    """A list action's result: one page (Page N, or from a cursor), or every page."""
    assert action.paging is not None
    style = request.paging or action.paging.style
    records = action.paging.records
    paging = action.paging
    walk = pages(client, request, style, at, paging.split_by, records)
    if not at.fetch_all:
        if style == "page_number":
            size = at.per_page or at.default_per_page or 0
            return _with_next_page_number(next(walk), _first_page(at), size)
        return nth_page(walk, at.page or 1, records)
    if style == "page_number" and request.scroll_path and _first_page(at) == 1:
        head = next(walk)
        if (head.get("total_count") or 0) > PAGED_LIMIT:
            return RecordStream(_scroll(client, request.scroll_path), records)
        return RecordStream(_chain(head, walk), records)
    return RecordStream(walk, records)


def _chain(head: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield head
    yield from rest


def choices(
    client: IntercomClient,
    source: DataSourceSpec,
    request: Request,
    paging: Paging,
    limit: int,
    per_page_maximum: int | None,
) -> dict[str, Any]:
    """A data source's answer: at most ``limit`` choices, reading no more pages than that."""
    size = min(limit, per_page_maximum) if per_page_maximum else None
    at = PagingValues(fetch_all=True, per_page=size)
    style = request.paging or paging.style
    result: list[dict[str, str]] = []
    for record in RecordStream(pages(client, request, style, at), paging.records):
        if len(result) >= limit:
            break
        if isinstance(record, Mapping) and _field(record, source.key_field) is not None:
            result.append(_choice(record, source))
    return {"result": result}


def _field(record: Mapping[str, Any], path: str | None) -> Any:
    """A record's field by name, or by a dotted path into nested objects."""
    if not path:
        return None
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _choice(record: Mapping[str, Any], source: DataSourceSpec) -> dict[str, str]:
    key = str(_field(record, source.key_field))
    label = _field(record, source.label_field)
    detail = _field(record, source.detail_field)
    if not label:
        label, detail = detail or key, None
    text = f"{label} ({detail})" if detail and detail != label else str(label)
    return {"key": key, "label": text}
