"""A simulated day in the sandbox: every polling trigger gives each change exactly once, in
order of change, across restarts from its saved state.

The sandbox's clock runs the day in no time, in a workspace whose timezone is not UTC; its
search index shows a change a minute late. Changes come several in the same second, some
while a poll is running, late in the evening and after midnight; one poll is cut by a 429.
Every poll is a restart: a new connector, the state read back from its JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from intercom_connector import Connector
from intercom_connector.runtime.client import RetryPolicy
from intercom_connector.runtime.errors import RateLimitError
from intercom_connector.sandbox import Clock, Sandbox

ZONE = "America/New_York"
LAG = 60  # how late the sandbox's search shows a change
INPUTS = {"index_lag": 120}  # what the triggers allow for: more than the lag
ADMIN = "991267001"
POLLING = [
    "new_or_updated_contacts",
    "new_or_updated_companies",
    "new_or_updated_conversations",
    "new_conversations",
    "new_or_updated_tickets",
]

Pair = tuple[str, int]


def at(hour: int, minute: int, second: int = 0, day: int = 10) -> float:
    return datetime(2025, 6, day, hour, minute, second, tzinfo=ZoneInfo(ZONE)).timestamp()


class Interfering(httpx.BaseTransport):
    """The sandbox's transport, with something done before the n-th request, or an answer
    given instead of it."""

    def __init__(
        self, inner: httpx.BaseTransport, step: Callable[[int], httpx.Response | None]
    ) -> None:
        self.inner, self.step, self.count = inner, step, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        answer = self.step(self.count)
        if answer is not None:
            answer.request = request
            return answer
        return self.inner.handle_request(request)


class Day:
    """The sandbox, a writer, one saved state per trigger, and what each trigger gave."""

    def __init__(self) -> None:
        self.sandbox = Sandbox(":memory:", clock=Clock(now=at(7, 59), timezone=ZONE), index_lag=LAG)
        self.connection = {"type": "access_token", "access_token": self.sandbox.token,
                           "base_url": self.sandbox.base_url}  # fmt: skip
        self.writer = Connector(self.connection, transport=self.sandbox.transport())
        self.saved: dict[str, str] = {key: "null" for key in POLLING}
        self.given: dict[str, list[dict[str, Any]]] = {key: [] for key in POLLING}
        #: every version written, by trigger: what each must give
        self.changes: dict[str, list[Pair]] = {key: [] for key in POLLING}

    # -- the writes, each noted for the triggers it concerns ---------------------------------

    def now(self) -> int:
        return int(self.sandbox.clock.time())

    def contact(self, email: str) -> str:
        made = self.writer.invoke("create_contact", {"email": email})["data"]
        self.changes["new_or_updated_contacts"].append((made["id"], made["updated_at"]))
        return str(made["id"])

    def rename(self, contact_id: str, name: str) -> None:
        made = self.writer.invoke("update_contact", {"contact_id": contact_id, "name": name})
        self.changes["new_or_updated_contacts"].append((contact_id, made["data"]["updated_at"]))

    def company(self, key: str, name: str) -> None:
        made = self.writer.invoke("create_company", {"company_id": key, "name": name})["data"]
        self.changes["new_or_updated_companies"].append((made["id"], made["updated_at"]))

    def raw(self, url: str, method: str, data: Any) -> Any:
        inputs = {"url": url, "method": method, "data": data}
        return self.writer.invoke("raw_request", inputs)["data"]["data"]

    def conversation(self, contact_id: str) -> str:
        opening = {"from": {"type": "user", "id": contact_id}, "body": "Hello?"}
        made = self.raw("/conversations", "POST", opening)
        pair = (made["conversation_id"], made["created_at"])
        self.changes["new_or_updated_conversations"].append(pair)
        self.changes["new_conversations"].append(pair)
        return str(made["conversation_id"])

    def reply(self, conversation_id: str, **who: str) -> None:
        body = {"message_type": "comment", "body": "Noted", **who}
        made = self.raw(f"/conversations/{conversation_id}/reply", "POST", body)
        self.changes["new_or_updated_conversations"].append((made["id"], made["updated_at"]))

    def ticket(self, contact_id: str) -> str:
        kind = self.writer.invoke("list_ticket_types", {})["data"]["data"][0]["id"]
        inputs = {"ticket_type_id": kind, "contact_id": contact_id,
                  "ticket_attributes": {"default_title": "Broken"}}  # fmt: skip
        made = self.writer.invoke("create_ticket", inputs)["data"]
        self.changes["new_or_updated_tickets"].append((made["id"], made["updated_at"]))
        return str(made["id"])

    def move(self, ticket_id: str, state_id: str) -> None:
        made = self.raw(f"/tickets/{ticket_id}", "PUT", {"ticket_state_id": state_id})
        self.changes["new_or_updated_tickets"].append((ticket_id, made["updated_at"]))

    # -- the polls -------------------------------------------------------------------------

    def poll(self, key: str, transport: httpx.BaseTransport | None = None) -> list[Pair]:
        """One check, as a restarted host makes it: the state read back from JSON."""
        once = RetryPolicy(max_attempts=1)  # a 429 fails the check: the host tries later
        with Connector(self.connection, transport=transport or self.sandbox.transport(),
                       retry=once) as connector:  # fmt: skip
            events, state = connector.poll(
                key, INPUTS, json.loads(self.saved[key]), now=self.sandbox.clock.time()
            )
        self.saved[key] = json.dumps(state)
        self.given[key] += events
        return [(e["data"]["id"], e["occurred_at"]) for e in events]

    def poll_all(self) -> None:
        for key in POLLING:
            self.poll(key)

    def given_pairs(self, key: str) -> list[Pair]:
        return [(str(e["data"]["id"]), e["occurred_at"]) for e in self.given[key]]


@pytest.fixture(scope="module")
def day() -> Day:
    """The whole day played once; the tests read what each trigger gave."""
    day = Day()
    clock = day.sandbox.clock
    day.poll_all()  # 07:59, the first check: from now, nothing given

    clock.set(at(8, 0))  # several changes in the same second
    ada, bob, cyd = (day.contact(f"{name}@example.com") for name in ("ada", "bob", "cyd"))
    day.company("acme", "Acme")
    day.company("globex", "Globex")
    first, second = day.conversation(ada), day.conversation(bob)
    kind = day.writer.invoke("list_ticket_types", {})["data"]["data"][0]
    states = [state["id"] for state in kind["ticket_states"]["data"]]
    broken, stuck = day.ticket(ada), day.ticket(bob)

    clock.set(at(8, 0, 30))
    day.poll_all()  # the search does not show them yet; the companies' scroll does
    assert day.given_pairs("new_or_updated_contacts") == []
    clock.set(at(8, 1))
    day.poll_all()

    clock.set(at(8, 30))  # two hundred contacts in one second: two pages of search
    day.changes["new_or_updated_contacts"] += [
        (record_id, day.now()) for record_id in day.sandbox.add_contacts(200, prefix="import")
    ]
    day.rename(ada, "Ada")
    day.reply(first, type="admin", admin_id=ADMIN)
    day.move(broken, states[-1])

    clock.set(at(8, 31))

    def while_polling(number: int) -> None:
        if number == 2:  # between the first page and the second
            day.contact("dee@example.com")
            day.rename(cyd, "Cyd")

    day.poll("new_or_updated_contacts", Interfering(day.sandbox.transport(), while_polling))
    for key in POLLING[1:]:
        day.poll(key)

    clock.set(at(9, 0))
    kept = day.saved["new_or_updated_contacts"]
    limited = {"type": "error.list", "errors": [{"code": "rate_limit_exceeded", "message": "?"}]}

    def rate_limited(number: int) -> httpx.Response | None:
        return (
            httpx.Response(429, json=limited, headers={"Retry-After": "1"}) if number == 2 else None
        )

    with pytest.raises(RateLimitError):
        day.poll("new_or_updated_contacts", Interfering(day.sandbox.transport(), rate_limited))
    assert day.saved["new_or_updated_contacts"] == kept  # untouched
    clock.set(at(9, 0, 10))
    day.poll_all()

    clock.set(at(12, 0))
    day.company("globex", "Globex Corporation")
    day.move(stuck, states[1])
    clock.set(at(12, 1))

    def customer_writes(number: int) -> None:
        if number == 1:
            day.reply(second, type="user", intercom_user_id=bob)

    day.poll("new_or_updated_conversations", Interfering(day.sandbox.transport(), customer_writes))
    clock.set(at(12, 2, 30))
    day.poll_all()

    clock.set(at(23, 59, 59))  # late in the evening, and checks after midnight
    day.rename(bob, "Bob")
    day.contact("eve@example.com")
    day.company("acme", "Acme Anvils")
    clock.set(at(0, 0, 30, day=11))
    day.poll_all()
    clock.set(at(0, 1, 30, day=11))
    day.poll_all()
    return day


@pytest.mark.parametrize("key", POLLING)
def test_every_change_comes_exactly_once_in_order_of_change(day: Day, key: str) -> None:
    given = day.given_pairs(key)
    expected = sorted(set(day.changes[key]), key=lambda pair: (pair[1], pair[0]))
    assert len(given) == len(set(given)), "a change came twice"
    assert given == expected


def test_the_day_had_what_it_was_meant_to_have(day: Day) -> None:
    contacts = day.given["new_or_updated_contacts"]
    assert len(contacts) == 3 + 200 + 1 + 2 + 2  # the late ones of 23:59:59 too
    stamps = [e["occurred_at"] for e in contacts]
    assert len(set(stamps)) < len(stamps)  # several in the same second
    assert datetime.fromtimestamp(stamps[-1], ZoneInfo(ZONE)).hour == 23
    ada = [e for e in contacts if e["data"].get("email") == "ada@example.com"]
    assert [e["topic"] for e in ada] == ["contact.created", "contact.updated"]
    assert {e["topic"] for e in day.given["new_conversations"]} == {"conversation.created"}
    replies = [
        e for e in day.given["new_or_updated_conversations"] if e["topic"].endswith("updated")
    ]
    assert len(replies) == 2


def test_a_change_the_index_shows_late_still_comes_once() -> None:
    """One change shows in the search later than a newer one: within Index Lag, it comes
    at the next check (after the newer one), once."""
    day = Day()
    clock = day.sandbox.clock
    day.poll("new_or_updated_contacts")
    clock.set(at(10, 0))
    late = day.contact("late@example.com")
    day.sandbox.hold_from_search(late, until=at(10, 2, 40))
    clock.set(at(10, 0, 30))
    early = day.contact("early@example.com")
    clock.set(at(10, 1, 40))
    assert day.poll("new_or_updated_contacts") == [(early, int(at(10, 0, 30)))]
    clock.set(at(10, 3))
    assert day.poll("new_or_updated_contacts") == [(late, int(at(10, 0)))]
    clock.set(at(10, 30))
    assert day.poll("new_or_updated_contacts") == []
