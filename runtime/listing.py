"""What a list action returns: always Intercom's list envelope, one shape for every input.

Without Fetch All it is the page Intercom returned, so a later step can pass
``pages.next.starting_after`` on. With Fetch All, ``data`` holds every record of every
page and there is no next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Page = dict[str, Any]


def nth_page(pages: Iterator[Page], number: int = 1) -> Page:
    """The ``number``-th page of ``pages`` (walking the cursor there), or an empty page."""
    last: Page | None = None
    for index, page in enumerate(pages, start=1):
        if index == number:
            return page
        last = page
    # Past the end: Intercom's answer to a page beyond the last is an empty page.
    empty: Page = dict(last or {"type": "list"})
    empty["data"] = []
    empty["pages"] = {**(empty.get("pages") or {"type": "pages"}), "page": number}
    empty["pages"].pop("next", None)
    return empty


def every_page(pages: Iterator[Page]) -> Page:
    """One envelope holding the records of all ``pages``, in order: a single, last page."""
    records: list[Any] = []
    first: Page | None = None
    for page in pages:
        first = first or page
        records.extend(page.get("data") or [])
    envelope: Page = {key: value for key, value in (first or {"type": "list"}).items()}
    envelope.pop("scroll_param", None)
    envelope["data"] = records
    envelope["total_count"] = len(records)
    envelope["pages"] = {"type": "pages", "page": 1, "per_page": len(records), "total_pages": 1}
    return envelope
