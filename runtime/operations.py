"""How each kind of operation runs, once for all of them.

A handler (or a ``request:`` declared in the manifest) says which request an action
makes; what follows is the runtime's:

- a **request** action sends it and returns Intercom's answer;
- a **list** action is paged by the paginator of its declared style (runtime/paging/),
  which owns Fetch All, Page, Per Page and Starting After; the records come in the one
  list envelope;
- a **data source** pages its request until it has ``limit`` records and turns each into
  a choice ``{"key", "label"}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.errors import InputRefusal
from intercom_connector.runtime.frozen import frozen
from intercom_connector.runtime.listing import Demand, Page, RecordStream
from intercom_connector.runtime.manifest import (
    ActionSpec,
    DataSourceSpec,
    Paging,
    RequestTemplate,
)

if TYPE_CHECKING:
    # the paginators load with the first list or data source: a request action's run never
    # needs them (a CLI start pays for what it imports)
    from intercom_connector.runtime.paging import PagingValues


@frozen
class Request:
    """One request as a handler describes it; the runtime sends or pages it.

    ``paging`` names a style that overrides the action's declared one (List Contacts in
    ascending order is a search).
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
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: a create Intercom refuses to repeat: where the record a 409 names is read
    #: (``IntercomClient.create``); None for any other request
    unique_read: str | None = None

    def answer(self, client: IntercomClient) -> Any:
        """Intercom's decoded answer to this request, sent as it is (no create settling)."""
        return client.request(
            self.method,
            self.path,
            path_params=self.path_params,
            params=dict(self.query) or None,
            json=self.body,
            idempotent=self.idempotent,
        )


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
        return request.answer(client)
    except InputRefusal as refusal:
        raise _by_input(request, refusal) from None


def pages(
    client: IntercomClient, request: Request, paging: Paging, at: PagingValues
) -> Iterator[Page]:
    """Every page of ``request`` from where ``at`` says, in order, as its paginator walks
    them (runtime/paging/): the request's own style, else the declared one."""
    from intercom_connector.runtime.paging import paginator

    walk = paginator(paging, request.paging).pages(client, request, at)
    return _named_by_input(request, walk)


def _named_by_input(request: Request, walk: Iterator[Page]) -> Iterator[Page]:
    try:
        yield from walk
    except InputRefusal as refusal:
        raise _by_input(request, refusal) from None


def run_list(
    client: IntercomClient, action: ActionSpec, request: Request, at: PagingValues
) -> Page | RecordStream:
    """A list action's result: one page (Page N, or from a cursor), or every page."""
    from intercom_connector.runtime.paging import paginator

    assert action.paging is not None
    chosen = paginator(action.paging, request.paging)
    if not at.fetch_all:
        try:
            return chosen.one_page(client, request, at)
        except InputRefusal as refusal:
            raise _by_input(request, refusal) from None
    demand = Demand()  # the caller says its limit when it gathers the records
    walk = _named_by_input(request, chosen.every_page(client, request, at._replace(demand=demand)))
    return RecordStream(walk, action.paging.records, demand)


def choices(
    client: IntercomClient,
    source: DataSourceSpec,
    request: Request,
    paging: Paging,
    limit: int,
    per_page_maximum: int | None,
) -> dict[str, Any]:
    """A data source's answer: at most ``limit`` choices, reading no more pages than that."""
    from intercom_connector.runtime.paging import PagingValues

    size = min(limit, per_page_maximum) if per_page_maximum else None
    # past ``limit`` records no page more can give a choice still wanted
    demand = Demand(limit - 1)
    at = PagingValues(fetch_all=True, per_page=size, demand=demand)
    result: list[dict[str, str]] = []
    for record in RecordStream(pages(client, request, paging, at), paging.records, demand):
        if isinstance(record, Mapping) and _field(record, source.key_field) is not None:
            result.append(_choice(record, source))
            if len(result) >= limit:
                break  # before asking for the record after: it may be on a page not read
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
