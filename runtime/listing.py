"""What a list action returns: always Intercom's list envelope, one shape for every input.

Without Fetch All it is the page Intercom returned, so a later step can pass
``pages.next.starting_after`` on. With Fetch All, the records field (``data``, or what
the list calls it) holds every record of every page and there is no next page. A Fetch
All is a ``RecordStream``: the shim gathers it into that envelope, and
``run --output ndjson`` streams its records as pages arrive, in memory that does not
grow with the number of records.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from intercom_connector.runtime.errors import ResultTooLargeError

Page = dict[str, Any]


def nth_page(pages: Iterator[Page], number: int = 1, records: str = "data") -> Page:
    """The ``number``-th page of ``pages`` (walking the cursor there), or an empty page."""
    last: Page | None = None
    for index, page in enumerate(pages, start=1):
        if index == number:
            return page
        last = page
    # Past the end: Intercom's answer to a page beyond the last is an empty page.
    empty: Page = dict(last or {"type": "list"})
    empty[records] = []
    empty["pages"] = {**(empty.get("pages") or {"type": "pages"}), "page": number}
    empty["pages"].pop("next", None)
    return empty


class Demand:
    """How much of a Fetch All its caller takes, for a reader that reads pages ahead
    (runtime/paging/): once more than ``limit`` records have come the caller stops (None:
    it takes them all), so a page it may not take is not asked for ahead of time."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        #: pages and records the caller has taken, and the largest page: one tuple,
        #: replaced whole, so the reader's thread never sees half an update
        self.taken = (0, 0, 0)

    def took(self, records: int) -> None:
        pages, total, largest = self.taken
        self.taken = (pages + 1, total + records, max(largest, records))

    def may_need_next(self, fetched: int, page_at_most: int) -> bool:
        """Whether the page after the ``fetched`` first ones may be taken, pages holding
        at most ``page_at_most`` records: false once those pages could reach the limit."""
        if self.limit is None:
            return True
        pages, total, largest = self.taken
        return total + (fetched - pages) * max(page_at_most, largest) <= self.limit


class RecordStream:
    """Every record of every page of a Fetch All, read lazily and only once."""

    def __init__(
        self, pages: Iterator[Page], records: str = "data", demand: Demand | None = None
    ) -> None:
        self._pages = pages
        self._records = records
        #: what the caller will take, shared with the walk reading the pages
        self.demand = demand or Demand()
        self.first: Page | None = None
        self.pages_read = 0
        self.records_read = 0

    def __iter__(self) -> Iterator[Any]:
        for records in self.batches():
            yield from records

    def batches(self) -> Iterator[list[Any]]:
        """The records a page at a time, each page's as it arrives."""
        for page in self._pages:
            self.first = self.first or page
            self.pages_read += 1
            records = page.get(self._records) or []
            self.records_read += len(records)
            self.demand.took(len(records))
            yield records

    def envelope(self, limit: int | None = None) -> Page:
        """One envelope holding every record, in order: a single, last page.

        With ``limit``, ResultTooLargeError as soon as one record more has come (reading
        no further page): a caller that must hold the whole result says how much it takes.
        """
        records: list[Any] = []
        self.demand.limit = limit
        with _out_of_the_collectors_way() as set_aside:
            for record in self:
                records.append(record)
                if limit is not None and len(records) > limit:
                    raise ResultTooLargeError(limit)
                if self.records_read == len(records):  # a page is complete
                    set_aside()
        envelope: Page = dict(self.first or {"type": "list"})
        envelope.pop("scroll_param", None)
        envelope[self._records] = records
        envelope["total_count"] = len(records)
        envelope["pages"] = {"type": "pages", "page": 1, "per_page": len(records), "total_pages": 1}
        return envelope


#: whether the objects frozen in this process were frozen by ``freeze_start_up``
_frozen_at_start_up = False


def freeze_start_up() -> None:
    """For a process that runs one command and exits (the CLI): what it imported to start
    lives as long as the process, so the cyclic collector is told not to scan it again
    and again (a tenth of a short command's start-up). A Fetch All may freeze more and
    give it all back (``envelope``)."""
    global _frozen_at_start_up
    if not gc.get_freeze_count() and gc.isenabled():
        gc.freeze()
        _frozen_at_start_up = True


@contextmanager
def _out_of_the_collectors_way() -> Iterator[Any]:
    """While a Fetch All gathers tens of thousands of records, keep the cyclic collector
    from rescanning the growing pile (it more than doubled a 50,000-record Fetch All).

    The records hold no reference cycles. After each page, ``gc.freeze()`` moves what
    exists into the permanent generation, and ``gc.unfreeze()`` gives it back at the end:
    the collector stays enabled and keeps collecting whatever is created meanwhile, and
    nothing is lost, only looked at later. A process that froze objects itself (a
    pre-forking server does) is left alone, since unfreezing would undo its freeze; what
    ``freeze_start_up`` froze may be given back.
    """
    if (gc.get_freeze_count() and not _frozen_at_start_up) or not gc.isenabled():
        yield lambda: None
        return
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()
