"""Fetch All of a search by ranges of creation time, side by side: the walk's records, faster.

A cursor walk can never be faster than its pages times the round trip: each page's cursor
is in the answer before it. A search, though, can be cut into ranges of ``created_at``
that are walked at the same time, and their records put one range after the other give
exactly what the one walk gives, in the same order -- when the walk is sorted by
``created_at``, as a Fetch All asks for when the person gives no sort (Intercom's own
order is not documented), and the first page shows it.

Intercom compares timestamps by calendar day, in the workspace's time zone, which the
connector does not know. So a boundary is one timestamp ``t`` used three ways: a range
ends with ``created_at < t`` (days before t's) and the next starts with ``created_at = t
OR created_at > t`` (t's day and after). Whatever day Intercom makes of ``t``, the ranges
neither overlap nor leave a gap.

How big each range is comes from cheap one-record probes (their ``total_count``): the
walk's first page gives the total and one end of the time span, a probe the other end;
ranges too big are cut again, a few rounds at most. The counts must add up to the total:
if they do not (records without a creation time, or a query Intercom cannot take with
the bounds added), the walk continues from its first page as it would have. The ranges
are then walked side by side within the rate limit, and their pages yielded in order;
the ranges after the one being read are read at most ``BUFFERED_PAGES`` pages ahead, so
what waits its turn stays bounded however many records match.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from intercom_connector.runtime.client import IntercomClient, in_callers_context
from intercom_connector.runtime.errors import IntercomAPIError
from intercom_connector.runtime.paging import next_cursor, search_walk
from intercom_connector.runtime.search_query import fits

Page = dict[str, Any]
DAY = 86_400
#: a walk of at most this many pages is not worth the probes
SPLIT_AFTER_PAGES = 8
#: a range holds about this many pages at most (so what waits its turn stays small) ...
RANGE_PAGES_MAX = 20
#: ... and at least this many (each range ends with a partial page, and costs probes)
RANGE_PAGES_MIN = 4
#: pages of a range read ahead of the range being yielded, at most
BUFFERED_PAGES = RANGE_PAGES_MAX + 4
#: rounds of probes at most, and ranges one probe round may cut a range into
ROUNDS = 6
CUTS = 64


def search_pages(
    client: IntercomClient,
    path: str,
    body: Mapping[str, Any],
    *,
    field: str,
    records: str = "data",
    path_params: Mapping[str, str] | None = None,
) -> Iterator[Page]:
    """Every page of the search ``body`` (no cursor), split by ``field`` when that is exact:
    when ``body`` sorts by ``field``; any other body is walked as it is."""

    def post(payload: Mapping[str, Any]) -> Page:
        page: Page = client.request(
            "POST", path, path_params=path_params, json=payload, idempotent=True
        )
        return page

    first = post(body)
    plan = _plan(post, client, body, first, field, records)
    if plan is None:
        yield first
        yield from _walk_on(client, path, body, first, path_params)
        return
    walks = [_range_walk(client, path, body, query, path_params) for query in plan]
    yield from _side_by_side(walks, client.concurrency())


def _walk_on(
    client: IntercomClient,
    path: str,
    body: Mapping[str, Any],
    first: Page,
    path_params: Mapping[str, str] | None,
) -> Iterator[Page]:
    """The pages after ``first``, walked one after the other as the search gives them."""
    cursor = next_cursor(first)
    if cursor is None:
        return
    pagination = {**(body.get("pagination") or {}), "starting_after": cursor}
    yield from search_walk(
        client, path, {**body, "pagination": pagination}, path_params, followed=(cursor,)
    )


def _order(body: Mapping[str, Any], first: Page, field: str, records: str) -> str | None:
    """``ascending`` or ``descending`` when the walk is ordered by ``field``, else None."""
    values = [record.get(field) for record in first.get(records) or []]
    if not values or not all(type(value) is int for value in values):
        return None
    sort = body.get("sort")
    if not isinstance(sort, Mapping) or sort.get("field") != field:
        return None  # Intercom's own order, or by another field: not the ranges' order
    order = sort.get("order", "descending")
    ordered = values == sorted(values, reverse=order == "descending")
    return order if ordered and order in ("ascending", "descending") else None


def _plan(
    post: Callable[[Mapping[str, Any]], Page],
    client: IntercomClient,
    body: Mapping[str, Any],
    first: Page,
    field: str,
    records: str,
) -> list[Mapping[str, Any]] | None:
    """The ranges' queries in the walk's order, or None when splitting is not exact."""
    total = first.get("total_count")
    per_page = (body.get("pagination") or {}).get("per_page") or len(first.get(records) or [])
    query = body.get("query")
    order = _order(body, first, field, records)
    if not isinstance(total, int) or not per_page or order is None or query is None:
        return None
    if math.ceil(total / per_page) <= SPLIT_AFTER_PAGES or next_cursor(first) is None:
        return None
    if not fits(_within(query, field, 1, 2)):
        return None  # Intercom would refuse the query with the bounds added
    known = first[records][0][field]
    other = "ascending" if order == "descending" else "descending"
    other_end = {"field": field, "order": other}
    end = post({"query": query, "sort": other_end, "pagination": {"per_page": 1}})
    found = end.get(records) or []
    if not found or type(found[0].get(field)) is not int:
        return None
    oldest, newest = sorted((known, found[0][field]))
    width = client.concurrency()
    # a few ranges a request side by side, so they end together; not too small or big
    target = math.ceil(total / (4 * width))
    target = min(max(target, RANGE_PAGES_MIN * per_page), RANGE_PAGES_MAX * per_page)

    def count(part: tuple[int | None, int | None]) -> int:
        probe = {"query": _within(query, field, *part), "pagination": {"per_page": 1}}
        found = post(probe).get("total_count")
        return found if isinstance(found, int) else -1

    # a range is (low, high, count): the days from low's on, before high's (None: open)
    ranges: list[tuple[int | None, int | None, int]] = [(None, None, total)]
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="probe") as pool:
        for _ in range(ROUNDS):
            cuts = [_cut(low, high, size, oldest, newest, target) for low, high, size in ranges]
            if not any(cuts):
                break
            parts = [part for pieces in cuts for part in pieces]
            try:
                sizes = iter(list(pool.map(in_callers_context(count), parts)))
            except IntercomAPIError as error:
                if error.status == 400:
                    return None  # a query Intercom will not take with the bounds added
                raise
            refined: list[tuple[int | None, int | None, int]] = []
            for (low, high, size), pieces in zip(ranges, cuts, strict=True):
                if not pieces:
                    refined.append((low, high, size))
                    continue
                counted = [(a, b, next(sizes)) for a, b in pieces]
                if sum(n for *_, n in counted) != size or min(n for *_, n in counted) < 0:
                    return None  # records no range holds, or a result that is changing
                refined += counted
            ranges = refined
    merged = _merged([r for r in ranges if r[2]], target)
    if len(merged) < 2:
        return None
    queries = [_within(query, field, low, high) for low, high, _ in merged]
    return queries if order == "ascending" else queries[::-1]


def _cut(
    low: int | None, high: int | None, size: int, oldest: int, newest: int, target: int
) -> list[tuple[int | None, int | None]]:
    """The pieces a range too big is cut into (evenly in time), or none."""
    start = low if low is not None else oldest
    stop = high if high is not None else newest + 1
    pieces = min(CUTS, math.ceil(size / target))
    if size <= target * 3 // 2 or stop - start < 2 * DAY or pieces < 2:
        return []  # small enough, or within a day or two: Intercom cannot tell it apart
    step = (stop - start) / pieces
    bounds = [low, *(int(start + step * n) for n in range(1, pieces)), high]
    return list(itertools.pairwise(bounds))


def _merged(
    ranges: list[tuple[int | None, int | None, int]], target: int
) -> list[tuple[int | None, int | None, int]]:
    """Neighbouring ranges joined while they stay within ``target`` records; the first
    starts and the last ends open, so together they still cover every day."""
    merged: list[tuple[int | None, int | None, int]] = []
    for low, high, size in ranges:
        if merged and merged[-1][2] + size <= target:
            merged[-1] = (merged[-1][0], high, merged[-1][2] + size)
        else:
            merged.append((low, high, size))
    if merged:
        merged[0] = (None, *merged[0][1:])
        merged[-1] = (merged[-1][0], None, merged[-1][2])
    for index in range(1, len(merged)):  # each range starts where the one before ends
        merged[index] = (merged[index - 1][1], *merged[index][1:])
    return merged


def _within(query: Any, field: str, low: int | None, high: int | None) -> Any:
    """``query`` limited to the days from ``low``'s on and before ``high``'s."""
    bounds: list[Any] = []
    if low is not None:
        on_or_after = [
            {"field": field, "operator": "=", "value": low},
            {"field": field, "operator": ">", "value": low},
        ]
        bounds.append({"operator": "OR", "value": on_or_after})
    if high is not None:
        bounds.append({"field": field, "operator": "<", "value": high})
    if not bounds:
        return query
    if isinstance(query, Mapping) and query.get("operator") == "AND":
        return {"operator": "AND", "value": [*query.get("value", []), *bounds]}
    return {"operator": "AND", "value": [query, *bounds]}


def _range_walk(
    client: IntercomClient,
    path: str,
    body: Mapping[str, Any],
    query: Any,
    path_params: Mapping[str, str] | None,
) -> Callable[[], Iterator[Page]]:
    def walk() -> Iterator[Page]:
        return search_walk(client, path, {**body, "query": query}, path_params)

    return walk


_END = object()


def _side_by_side(walks: list[Callable[[], Iterator[Page]]], width: int) -> Iterator[Page]:
    """The pages of every walk, walk after walk, while up to ``width`` of them run at once:
    the one being yielded and the next ones (up to twice ``width`` ranges from it, so that
    a slow range does not idle the others), each ``BUFFERED_PAGES`` pages ahead at most."""
    stop = threading.Event()
    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=BUFFERED_PAGES) for _ in walks]

    def put(box: queue.Queue[Any], item: Any) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def drain(index: int) -> None:
        box = queues[index]
        try:
            for page in walks[index]():
                if not put(box, page):
                    return
            put(box, _END)
        except BaseException as error:  # the reader raises it in its turn
            put(box, error)

    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="ranges")
    started = 0
    try:
        for index in range(len(walks)):
            while started < len(walks) and started < index + 2 * width:
                pool.submit(in_callers_context(drain), started)
                started += 1
            while (item := queues[index].get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
