"""The sandbox workspace's live settings: its clock and timezone, and how late its search
index runs. Tests set them to play a day of Intercom in no time:

    sandbox = Sandbox(":memory:", clock=Clock(now=1_718_000_000, timezone="Europe/Paris"))
    sandbox.clock.advance(90)           # 90 seconds later, at once
    sandbox.index_lag = 120             # a search shows a change two minutes after it
    sandbox.hold_from_search(contact_id, until=...)   # this one shows later still

Intercom's search compares dates by calendar day in the workspace's timezone, so the
timezone matters to every date filter; every stored time (created_at, updated_at, ...) is
the clock's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock:
    """The sandbox's "now": the real time, or a time a test sets (``now``) and moves."""

    def __init__(self, now: float | None = None, *, timezone: str = "UTC") -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{timezone!r} is not a timezone name such as Europe/Paris") from None
        self.timezone = timezone
        self._now = now
        self._lock = threading.Lock()

    def time(self) -> float:
        """Now, in unix seconds."""
        with self._lock:
            return time.time() if self._now is None else self._now

    def set(self, now: float) -> None:
        """Stop the clock at ``now`` (unix seconds)."""
        with self._lock:
            self._now = now

    def advance(self, seconds: float) -> None:
        """Move a stopped clock on (a running one: stop it there first)."""
        with self._lock:
            self._now = (time.time() if self._now is None else self._now) + seconds


class Workspace:
    """The clock, and what Intercom's search can see yet.

    A change shows in a search ``index_lag`` seconds after it was made (its
    ``updated_at``), or after ``hold_from_search``'s time for one record. Reads by id,
    lists and the scroll API see every change at once, as Intercom's do.
    """

    def __init__(self, clock: Clock | None = None, index_lag: float = 0.0) -> None:
        self.clock = clock or Clock()
        self.index_lag = index_lag
        self._held: dict[str, float] = {}

    def now(self) -> int:
        return int(self.clock.time())

    def hold_from_search(self, record_id: str, until: float) -> None:
        """Keep one record out of search answers until ``until`` (unix seconds)."""
        self._held[str(record_id)] = until

    def searchable(self, record: Mapping[str, Any]) -> bool:
        """Whether a search would find this (version of a) record now."""
        now = self.clock.time()
        changed = record.get("updated_at")
        if isinstance(changed, int | float) and changed + self.index_lag > now:
            return False
        return self._held.get(str(record.get("id")), 0.0) <= now
