"""Paging: one paginator per style Intercom uses, chosen by the name a list declares.

A list action (or a data source, or a polling trigger) declares its style in
connector.yaml, ``paging: {style: cursor}``, with the facts of that list alone (the
answer's field holding the records, a search's ``split_by``, a numbered list's
``overflow`` onto another endpoint). Everything else about a style is its class here:
where the cursor goes in a request, where the next one is read in an answer, the one-page
result (a numbered list's next-page rewrite), the per-page maximum and the shape of
Starting After (``inputs``, merged into the action's paging inputs when the manifest is
loaded), and how a Fetch All fetches pages side by side: the read-ahead reader of a
cursor walk, numbered pages in parallel, the range split of a search
(runtime/paging/search_ranges.py). The client (runtime/client.py) sends, retries, keeps
the rate-limit window and creates.

A new style is one class and its name in ``PAGINATORS``. Nothing outside this package
compares a style's name (tests/test_layers.py checks).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from intercom_connector.runtime.client import (
    IntercomClient,
    Once,
    Settable,
    build_path,
    in_callers_context,
    json_body,
)
from intercom_connector.runtime.errors import InputRefusal, IntercomAPIError
from intercom_connector.runtime.listing import Demand, Page, nth_page

if TYPE_CHECKING:
    from intercom_connector.runtime.manifest import Paging
    from intercom_connector.runtime.operations import Request

log = logging.getLogger("intercom_connector.http")

#: round trips at least this long (seconds) make a cursor Fetch All read the next page ahead
READ_AHEAD_AFTER = 0.004


class PagingValues(NamedTuple):
    """The paging inputs of one list call, as validated (absent ones None)."""

    fetch_all: bool = False
    page: int | None = None
    per_page: int | None = None
    starting_after: str | None = None
    #: the Per Page to use when neither the input nor the request's own body gives one
    default_per_page: int | None = None
    #: how much of a Fetch All its caller takes (None: every record)
    demand: Demand | None = None

    def sized(self, query: Mapping[str, Any]) -> dict[str, Any]:
        """``query`` with the page size to ask for, when there is one."""
        size = self.per_page or self.default_per_page
        return {**query, "per_page": size} if size else dict(query)


#: Intercom's largest page of a cursor list or a search (the shared Per Page says 50)
_UP_TO_150 = {
    "per_page": {
        "comments": "How many results to return per page. Default is 15. Max is 150.",
        "maximum": 150,
    }
}


class Paginator:
    """One paging style: how a list's pages are asked for and read.

    ``pages`` gives every page from where the paging inputs say; ``one_page`` the result
    of a list without Fetch All; ``every_page`` the pages of a Fetch All.
    """

    #: the style's name in connector.yaml (``paging: {style: ...}``)
    name: ClassVar[str]
    #: what this style changes in the shared paging inputs (connector.yaml's ``inputs``):
    #: its per-page maximum, the shape of its Starting After; an action's own entry wins
    inputs: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: where an answer gives the next page, as Starting After takes it
    next_in: ClassVar[str] = "pages.next.starting_after"
    #: the query travels in the body (a search): a polling trigger's clauses go there, and
    #: only such a list can be split into ranges
    searches: ClassVar[bool] = False
    #: a Fetch All can go on past Intercom's limit on another endpoint (``overflow``)
    overflows: ClassVar[bool] = False

    def __init__(self, paging: Paging) -> None:
        self.paging = paging

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        """Every page of ``request`` from where ``at`` says, in order."""
        raise NotImplementedError

    def one_page(self, client: IntercomClient, request: Request, at: PagingValues) -> Page:
        """A list's result without Fetch All: Page N (walking there), or from a cursor."""
        return nth_page(self.pages(client, request, at), at.page or 1, self.paging.records)

    def every_page(
        self, client: IntercomClient, request: Request, at: PagingValues
    ) -> Iterator[Page]:
        """The pages of a Fetch All."""
        return self.pages(client, request, at)


class CursorPaginator(Paginator):
    """``starting_after`` in the query (``GET /contacts``), the next one in the answer's
    ``pages.next``. A Fetch All over a slow round trip reads the next page ahead."""

    name = "cursor"
    inputs = _UP_TO_150

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        return _cursor_walk(
            client,
            request.path,
            at.sized(request.query),
            at.starting_after,
            read_ahead=(at.demand or Demand()) if at.fetch_all else None,
            path_params=request.path_params,
        )


class SearchPaginator(Paginator):
    """A search (``POST /contacts/search``): the query, the page size and the cursor in the
    body. A Fetch All from the start given no sort asks for one by ``split_by`` (oldest
    first: Intercom's own order is not documented), and is split into ranges of it."""

    name = "search"
    inputs = _UP_TO_150
    searches = True

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        body = dict(request.body or {})
        pagination = dict(body.get("pagination") or {})
        per_page = at.per_page or pagination.get("per_page") or at.default_per_page
        if per_page:
            pagination["per_page"] = per_page
        if at.starting_after:
            pagination["starting_after"] = at.starting_after
        body["pagination"] = pagination
        split_by = self.paging.split_by
        if split_by and at.fetch_all and not at.starting_after:
            body.setdefault("sort", {"field": split_by, "order": "ascending"})
            # imported here: only a Fetch All of a search needs it
            from intercom_connector.runtime.paging.search_ranges import search_pages

            return search_pages(
                client,
                request.path,
                body,
                field=split_by,
                records=self.paging.records,
                path_params=request.path_params,
            )
        return search_walk(client, request.path, body, request.path_params)


class PageNumberPaginator(Paginator):
    """``page`` counting up to ``total_pages`` (companies); a Fetch All fetches the pages
    side by side. The cursor handed on (and taken back as Starting After) is the next
    page's number. ``overflow``: past ``after`` records, the list continues on another
    endpoint, paged as a scroll (Intercom's companies past 10,000)."""

    name = "page_number"
    overflows = True
    inputs = {
        "starting_after": {
            "schema": {"pattern": "^[1-9][0-9]*$"},
            "pattern_hint": (
                "must be a page number, as a previous output gives it in pages.next.starting_after"
            ),
        }
    }

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        return _numbered_walk(client, request, at.sized(request.query), _first_page(at))

    def one_page(self, client: IntercomClient, request: Request, at: PagingValues) -> Page:
        page = next(self.pages(client, request, at))
        number, size = _first_page(at), at.per_page or at.default_per_page or 0
        # the cursor handed on is the next page's number
        info = dict(page.get("pages") or {"type": "pages"})
        total = info.get("total_pages")
        info.pop("next", None)
        if isinstance(total, int) and number < total:
            info["next"] = {"per_page": size, "starting_after": str(number + 1)}
        return {**page, "pages": info}

    def every_page(
        self, client: IntercomClient, request: Request, at: PagingValues
    ) -> Iterator[Page]:
        overflow = self.paging.overflow
        walk = self.pages(client, request, at)
        if overflow is None or request.path != overflow.applies_to or _first_page(at) != 1:
            return walk
        return self._overflowing(client, walk, overflow.after, overflow.path)

    @staticmethod
    def _overflowing(
        client: IntercomClient, walk: Iterator[Page], after: int, path: str
    ) -> Iterator[Page]:
        head = next(walk)
        if (head.get("total_count") or 0) > after:
            # the numbered walk stops at its first page: nothing more was asked of it
            yield from _scroll_walk(client, path)
            return
        yield head
        yield from walk


class ScrollPaginator(Paginator):
    """Intercom's scroll API: each answer's ``scroll_param`` asks for the next page, until
    a page comes back empty."""

    name = "scroll"

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        return _scroll_walk(client, build_path(request.path, request.path_params))


class LinkPaginator(Paginator):
    """The answer's ``pages.next`` is the next page's URL (data events); Starting After
    takes such a link, on the connection's API host only."""

    name = "link"
    next_in = "pages.next"
    inputs = {
        "starting_after": {
            "comments": "To read the next page, the link a previous output gives in pages.next."
        }
    }

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        link = at.starting_after
        if link is not None and not client.on_api_host(link):
            raise InputRefusal(
                "starting_after",
                "must be the link a previous output gives in pages.next, on this "
                "connection's API host",
            )
        return _link_walk(client, request, at.sized(request.query), link)


class NonePaginator(Paginator):
    """One answer holds every record (admins, teams)."""

    name = "none"

    def pages(self, client: IntercomClient, request: Request, at: PagingValues) -> Iterator[Page]:
        return iter([request.answer(client)])


#: every style by the name connector.yaml gives it
PAGINATORS: dict[str, type[Paginator]] = {
    style.name: style
    for style in (
        CursorPaginator,
        SearchPaginator,
        PageNumberPaginator,
        ScrollPaginator,
        LinkPaginator,
        NonePaginator,
    )
}


def paginator(paging: Paging, style: str | None = None) -> Paginator:
    """The paginator of ``paging`` (or of the style ``style`` names, a request's own)."""
    return PAGINATORS[style or paging.style](paging)


# -- the walks ------------------------------------------------------------------------


def next_cursor(page: Mapping[str, Any]) -> str | None:
    """The next page's cursor an answer gives in ``pages.next.starting_after``."""
    pages = page.get("pages")
    following = pages.get("next") if isinstance(pages, dict) else None
    if isinstance(following, dict):
        cursor = following.get("starting_after")
        return str(cursor) if cursor else None
    return None


def _repeated(cursor: str, seen: set[str], path: str) -> bool:
    """The loop guard: a cursor Intercom gives twice ends the walk."""
    if cursor in seen:
        log.warning("Intercom repeated a cursor on %s; stopping to avoid an endless loop", path)
        return True
    seen.add(cursor)
    return False


def search_walk(
    client: IntercomClient,
    path: str,
    body: Mapping[str, Any],
    path_params: Mapping[str, str] | None = None,
    followed: tuple[str, ...] = (),
) -> Iterator[Page]:
    """Pages of a search, page after page, the cursor in the body. ``followed``: cursors
    an earlier part of the same walk already followed."""
    seen: set[str] = set(followed)
    body = dict(body)
    while True:
        page: Page = client.request(
            "POST", path, path_params=path_params, json=body, idempotent=True
        )
        yield page
        cursor = next_cursor(page)
        if cursor is None or _repeated(cursor, seen, path):
            return
        body["pagination"] = {**body.get("pagination", {}), "starting_after": cursor}


def _cursor_walk(
    client: IntercomClient,
    path: str,
    params: Mapping[str, Any],
    starting_after: str | None,
    *,
    read_ahead: Demand | None,
    path_params: Mapping[str, str] | None,
) -> Iterator[Page]:
    """Pages of a cursor list: ``starting_after`` in the query.

    The caller's params (filters, per_page) go with every page. Stops at the last page, or
    when Intercom hands back a cursor it already gave. With ``read_ahead`` (a Fetch All,
    and how much of it its caller takes) and a round trip slow enough to be worth hiding, a
    reader thread requests each next page as soon as its cursor shows in the raw answer
    (``_Reader``), so decoding a page and the caller's work on it overlap the next round
    trip; the guess is checked against the decoded page, and a wrong one stops the reader
    and is thrown away. Near the caller's limit the reader stops: a page past it is never
    asked for.
    """
    seen: set[str] = set()
    url = build_path(path, path_params)

    def fetch(cursor: str | None, written: Settable | None = None) -> tuple[Any, float]:
        query = dict(params)
        if cursor:
            query["starting_after"] = cursor
        started = time.perf_counter()
        response = client.send("GET", url, params=query, path_params=path_params, sent=written)
        return response, time.perf_counter() - started

    response, took = fetch(starting_after)
    reader: _Reader | None = None
    yielded = 0
    try:
        while True:
            guess = None
            # Only a slow round trip is worth hiding: on a fast one the second thread
            # costs more than it saves.
            if reader is None and read_ahead is not None and took >= READ_AHEAD_AFTER:
                reader = _Reader(fetch, response, _needed(read_ahead, params, yielded))
            if reader is not None:
                response, guess = reader.next()
            page = json_body(response, "GET", path)
            cursor = next_cursor(page)
            yield page
            yielded += 1
            if cursor is None or _repeated(cursor, seen, path):
                return
            if reader is not None and guess != cursor:
                reader.stop()  # read ahead from a wrong guess: what it fetched is dropped
                reader = None
            if reader is None:
                response, took = fetch(cursor)
    finally:
        if reader is not None:
            reader.stop()


def _needed(demand: Demand, params: Mapping[str, Any], before: int) -> Callable[[int], bool]:
    """For a reader starting after ``before`` pages of a cursor walk asking ``params``:
    whether the caller may take the page after the reader's first ``n`` (a page holds at
    most the Per Page asked, else Intercom's most)."""
    asked = params.get("per_page")
    at_most = asked if isinstance(asked, int) and asked > 0 else 150
    return lambda n: demand.may_need_next(before + n, at_most)


def _first_page(at: PagingValues) -> int:
    # A numbered list's cursor is the next page's number (its own output hands it on).
    return int(at.starting_after) if at.starting_after else at.page or 1


def _numbered_walk(
    client: IntercomClient, request: Request, params: Mapping[str, Any], first_page: int
) -> Iterator[Page]:
    """Pages of a numbered list: ``page`` counts up to ``total_pages``.

    The first page tells how many there are; the rest are fetched up to
    ``client.concurrency()`` at a time (fewer when the rate-limit window is nearly spent)
    and yielded in order.
    """

    def fetch(number: int) -> Page:
        page: Page = client.request(
            request.method,
            request.path,
            path_params=request.path_params,
            params={**params, "page": number},
            idempotent=True,
        )
        return page

    head = fetch(first_page)
    yield head
    total = (head.get("pages") or {}).get("total_pages")
    if not head.get("data") or not isinstance(total, int) or first_page >= total:
        return
    numbers = iter(range(first_page + 1, total + 1))
    width = client.concurrency()
    if width == 1:
        for number in numbers:
            page = fetch(number)
            yield page
            if not page.get("data"):
                return
        return
    aside = in_callers_context(fetch)  # on the pool's threads
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="pages") as pool:
        window = deque(pool.submit(aside, n) for n in itertools.islice(numbers, width))
        while window:
            page = window.popleft().result()
            yield page
            if not page.get("data"):
                for pending in window:
                    pending.cancel()
                return
            following = next(numbers, None)
            if following is not None:
                window.append(pool.submit(aside, following))


def _scroll_walk(client: IntercomClient, path: str) -> Iterator[Page]:
    """Every page of a scroll list, until a page comes back empty."""
    params: dict[str, str] = {}
    while True:
        page = client.request("GET", path, params=params)
        if not page or not page.get("data"):
            return
        yield page
        params = {"scroll_param": page["scroll_param"]}


def _link_walk(
    client: IntercomClient, request: Request, params: Mapping[str, Any], link: str | None
) -> Iterator[Page]:
    """Pages of a list whose answer links to the next one, from ``link`` when given; a
    link is followed on the API host only, and a repeated one ends the walk."""
    seen: set[str] = set()
    path, path_params = request.path, request.path_params
    url, query = (link, None) if link else (build_path(path, path_params), dict(params))
    while True:
        response = client.send("GET", url, params=query, path_params=path_params)
        page: Page = json_body(response, "GET", path)
        yield page
        pages = page.get("pages") if isinstance(page, dict) else None
        following = pages.get("next") if isinstance(pages, dict) else None
        if not isinstance(following, str) or not following or _repeated(following, seen, path):
            return
        if not client.on_api_host(following):
            raise IntercomAPIError(
                response.status_code,
                "unexpected_link",
                "the next page's link is not on the API host; it was not followed",
                response.headers.get("X-Request-Id"),
                method="GET",
                path=path,
            )
        url, query = following, None


# -- reading a cursor list ahead --------------------------------------------------------

_NEXT_CURSOR = re.compile(rb'"next"\s*:\s*\{[^{}]*?"starting_after"\s*:\s*("(?:[^"\\]|\\.)*")')


class _Reader:
    """Reads a cursor list ahead, in its own thread, for a Fetch All.

    From an answer it reads the next page's cursor off the raw bytes (a guess), requests
    that page, and as soon as the request is written hands the answer over: the next
    request is never behind the decoding of the page before it (which holds the interpreter
    for a millisecond or more) nor behind the caller's work on it. At most one answer waits
    to be taken, so a slow caller holds back the reading, and one request is on its way.
    ``needed(n)`` says whether the page after the first n may be taken: when it may not,
    the reader hands over what it has and leaves the caller to go on alone.
    """

    def __init__(
        self,
        fetch: Callable[[str | None, Settable | None], tuple[Any, float]],
        first: Any,
        needed: Callable[[int], bool],
    ) -> None:
        self._fetch = fetch
        self._needed = needed
        self._handoff: queue.Queue[tuple[Any, str | None, BaseException | None]] = queue.Queue(1)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=in_callers_context(self._run), args=(first,), name="next-page", daemon=True
        )
        self._thread.start()

    def _run(self, response: Any) -> None:
        asked: set[str] = set()
        while not self._stopped.is_set():
            guess = _peek_cursor(response.content)
            # a cursor Intercom gave before is not followed: the caller's loop guard stops
            # there; a page the caller may not take is left to the caller to ask for
            if guess is None or guess in asked or not self._needed(len(asked) + 1):
                self._put((response, None, None))
                return
            asked.add(guess)
            handed = Once(functools.partial(self._put, (response, guess, None)))
            try:
                response, took = self._fetch(guess, handed)
            except BaseException as error:  # the caller's to see, after the page before
                handed.set()
                self._put((None, guess, error))
                return
            handed.set()
            if took < READ_AHEAD_AFTER:  # the round trip got fast: not worth this thread
                self._put((response, None, None))  # no guess: the caller goes on alone
                return

    def _put(self, item: tuple[Any, str | None, BaseException | None]) -> None:
        while not self._stopped.is_set():  # a stopped reader's caller takes nothing more
            try:
                self._handoff.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def next(self) -> tuple[Any, str | None]:
        """The next answer and the cursor read off it (None: no next page seen); the error
        of the request that should have given it."""
        response, guess, error = self._handoff.get()
        if error is not None:
            raise error
        return response, guess

    def stop(self) -> None:
        """Stop reading ahead (a request on its way is finished and dropped)."""
        self._stopped.set()
        with contextlib.suppress(queue.Empty):
            self._handoff.get_nowait()  # a hand-over waiting for room gives up at once
        self._thread.join()


def _peek_cursor(raw: bytes) -> str | None:
    """The next page's cursor read off the raw answer, before it is decoded (a guess)."""
    # Intercom puts ``pages`` after the records: look from the end first
    last = raw.rfind(b'"next"')
    match = _NEXT_CURSOR.match(raw, last) if last >= 0 else None
    match = match or _NEXT_CURSOR.search(raw)
    if match is None:
        return None
    try:
        cursor = json.loads(match.group(1))
    except ValueError:
        return None
    return cursor if isinstance(cursor, str) and cursor else None
