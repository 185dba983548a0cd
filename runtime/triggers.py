"""Triggers: what starts a flow, once for every trigger of the manifest.

Every trigger gives **events** ``{"id", "topic", "occurred_at", "data"}``: ``data`` is the
record (its schema is the trigger's ``output``), ``occurred_at`` when it happened (unix
seconds), ``id`` unique to the change, so that a host may also recognise a repeat.

- A **webhook** trigger: ``receive(headers, body, ...)`` turns one delivery of Intercom's
  into its events, or refuses it (WebhookRefusal: 401 signature, 400 body). The signature
  ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body, keyed with the app's client
  secret>`` is checked, in constant time, before the body is even parsed.
- A **polling** trigger (``poll:`` in the manifest says what it reads):
  ``poll(client, trigger, values, state)`` gives the changes since the state's and the
  state to keep. One engine for all of them, never missing nor repeating a change:

  * Intercom's search compares timestamps by calendar day in the workspace's timezone
    (``>`` starts at the next day), so the query covers the whole day of the cursor and
    the exact comparison is made here, on each record;
  * the search index lags behind writes: every check reads again ``index_lag`` seconds
    behind the newest change it gave, and a bounded set of the (id, timestamp) pairs
    already given in that window keeps them from coming twice;
  * the cursor moves to the newest change actually given, never to "now" (whose clock?);
  * an error (a 429 too) raises before anything is returned: the host's state is untouched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.errors import InputProblem, InputValidationError, WebhookRefusal
from intercom_connector.runtime.manifest import PollSpec, TriggerSpec
from intercom_connector.runtime.operations import Request, pages
from intercom_connector.runtime.paging import PagingValues, paginator
from intercom_connector.runtime.search_query import all_of

Event = dict[str, Any]

#: the fields of every event, whatever the trigger
EVENT_FIELDS = ("id", "topic", "occurred_at", "data")


def event_schema(record_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one event whose ``data`` is a record of ``record_schema``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{record_schema.get('title', 'Record')} event",
        "type": "object",
        "required": list(EVENT_FIELDS),
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "description": "Unique to this change (a repeat has it too)."},
            "topic": {
                "type": "string",
                "description": "What happened, e.g. contact.created, conversation.admin.replied.",
            },
            "occurred_at": {"type": "integer", "description": "When it happened (unix seconds)."},
            "data": {k: v for k, v in record_schema.items() if k not in ("$schema", "$id")},
        },
    }


# -- webhooks ---------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Hub-Signature"
_SIGNATURE_PREFIX = "sha1="


class ReplayGuard:
    """The notification ids already accepted, the newest ``size`` of them: a delivery
    Intercom repeats (or anyone replays) is answered and dropped."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, notification_id: object) -> bool:
        return notification_id in self._ids

    def add(self, notification_id: str) -> None:
        self._ids[notification_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def discard(self, notification_id: str) -> None:
        """Forget ``notification_id``: a delivery answered so that Intercom sends it again
        (503) must be taken when it comes again."""
        self._ids.pop(notification_id, None)


@dataclass(frozen=True)
class Delivery:
    """A delivery that was accepted: its events (none for a ping or a dropped one) and a
    note saying what became of it, for a log."""

    events: list[Event]
    note: str


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Raise WebhookRefusal (401) unless ``X-Hub-Signature`` is the HMAC-SHA1 of ``body``
    keyed with ``secret``. Constant time: the comparison does not tell how much matched."""
    given = _header(headers, SIGNATURE_HEADER)
    if given is None:
        raise WebhookRefusal(401, f"no {SIGNATURE_HEADER} header: the delivery is not signed")
    given = given.strip()
    if not given.lower().startswith(_SIGNATURE_PREFIX):
        raise WebhookRefusal(401, f"{SIGNATURE_HEADER} is not sha1=<hex digest>")
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest().encode()
    offered = given[len(_SIGNATURE_PREFIX) :].lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, offered):
        raise WebhookRefusal(
            401,
            f"{SIGNATURE_HEADER} does not match the body: not signed with this app's client "
            "secret, or changed since it was signed",
        )


def _notification(body: bytes) -> dict[str, Any]:
    try:
        notification = orjson.loads(body)
    except ValueError:
        raise WebhookRefusal(400, "the body is not JSON") from None
    if not isinstance(notification, dict) or notification.get("type") != "notification_event":
        raise WebhookRefusal(400, "the body is not an Intercom notification_event")
    data = notification.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    wrong = [
        name
        for name, ok in (
            ("id", isinstance(notification.get("id"), str) and notification["id"]),
            ("topic", isinstance(notification.get("topic"), str) and notification["topic"]),
            ("created_at", type(notification.get("created_at")) is int),
            ("data.item", isinstance(item, dict)),
        )
        if not ok
    ]
    if wrong:
        raise WebhookRefusal(400, f"the notification_event has no valid {', '.join(wrong)}")
    return notification


def receive(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    topics: Sequence[str],
    app_id: str | None = None,
    seen: ReplayGuard | None = None,
) -> Delivery:
    """One delivery of Intercom's, verified: its events, or WebhookRefusal.

    The signature is checked before anything else (401); then the body must be a
    ``notification_event`` (400). A ``ping`` is answered with no event; so is a delivery of
    a topic not in ``topics``, of another workspace than ``app_id``, or one whose
    notification id ``seen`` already holds (a repeat).
    """
    verify_signature(headers, body, secret)
    notification = _notification(body)
    topic, notification_id = notification["topic"], notification["id"]
    if topic == "ping":
        return Delivery([], "ping answered")
    if app_id and notification.get("app_id") != app_id:
        return Delivery([], f"{notification_id} dropped: from workspace other than {app_id}")
    if topic not in topics:
        return Delivery([], f"{notification_id} dropped: topic {topic} is not accepted")
    if seen is not None:
        if notification_id in seen:
            return Delivery([], f"{notification_id} dropped: already received")
        seen.add(notification_id)
    event = {
        "id": notification_id,
        "topic": topic,
        "occurred_at": notification["created_at"],
        "data": notification["data"]["item"],
    }
    return Delivery([event], f"{notification_id} accepted: {topic}")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature`` value Intercom sends with ``body``."""
    return _SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


# -- polling ----------------------------------------------------------------------------

#: Intercom compares dates by calendar day: a value this long before a moment lies in an
#: earlier day than it in any timezone (a day lasts 23 to 25 hours), so ``>`` that value
#: matches every record from that moment's day on.
DAY_MARGIN = 25 * 3600
DAY = 86_400
#: how far back a first check with Start "now" looks to learn where things stand
FIRST_LOOK = DAY
#: the largest page Intercom's searches give
SEARCH_PAGE = 150

Pair = tuple[str, int]


@dataclass(frozen=True)
class PollState:
    """Where a polling trigger stands: the newest change given (``cursor``), and the
    (id, timestamp) pairs given within ``index_lag`` of it."""

    cursor: int
    seen: frozenset[Pair] = frozenset()

    def as_json(self, trigger_key: str) -> dict[str, Any]:
        pairs = sorted(self.seen, key=lambda pair: (pair[1], pair[0]))
        return {
            "trigger": trigger_key,
            "cursor": self.cursor,
            "seen": [[record_id, stamp] for record_id, stamp in pairs],
        }


def advance(state: PollState, events: Sequence[Event], lag: int) -> PollState:
    """The state once ``events`` (a poll's, in their order) have been handled."""
    pairs = set(state.seen) | {(str(e["data"]["id"]), int(e["occurred_at"])) for e in events}
    cursor = max([state.cursor, *(int(e["occurred_at"]) for e in events)])
    # an older pair can never be read again: the next check starts at cursor - lag
    return PollState(cursor, frozenset(p for p in pairs if p[1] >= cursor - lag))


@dataclass(frozen=True)
class Polled:
    """A poll's outcome: the new events, in order of change, and the state to keep.

    ``events, state = polled`` unpacks the two. A host that handles the events one at a
    time and stops at a failure keeps ``state_after(n)``: the next poll gives the rest.
    """

    trigger: str
    events: list[Event]
    base: PollState
    lag: int

    @property
    def state(self) -> dict[str, Any]:
        """The state to keep once every event has been handled."""
        return self.state_after(len(self.events))

    def state_after(self, count: int) -> dict[str, Any]:
        """The state to keep once the first ``count`` events have been handled."""
        return advance(self.base, self.events[:count], self.lag).as_json(self.trigger)

    def __iter__(self) -> Iterator[Any]:
        yield self.events
        yield self.state


def read_state(trigger: TriggerSpec, state: Any) -> PollState | None:
    """The state a host kept (None or empty: a first check); InputValidationError when it
    is not one this trigger wrote."""

    def wrong(problem: str) -> InputValidationError:
        return InputValidationError(trigger.label, [InputProblem("state", "state", problem)])

    if state is None or state == {}:
        return None
    if not isinstance(state, Mapping):
        raise wrong("must be the JSON object an earlier poll gave")
    if state.get("trigger") != trigger.key:
        raise wrong(f"was written by {state.get('trigger')!r}, not by {trigger.key!r}")
    cursor, seen = state.get("cursor"), state.get("seen", [])
    if type(cursor) is not int or cursor < 0:
        raise wrong("has no cursor (unix seconds)")
    pairs = set()
    for pair in seen if isinstance(seen, list) else [None]:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and type(pair[1]) is int
        ):
            raise wrong("has a seen list that is not [[id, timestamp], ...]")
        pairs.add((pair[0], pair[1]))
    return PollState(cursor, frozenset(pairs))


def _stamp(record: Any, name: str) -> int | None:
    value = record.get(name) if isinstance(record, Mapping) else None
    return value if type(value) is int and record.get("id") is not None else None


def _search_query(spec: PollSpec, values: Mapping[str, Any], since: int) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [
        {"field": spec.timestamp, "operator": ">", "value": max(0, since - DAY_MARGIN)}
    ]
    for wire, key in spec.query.items():
        if values.get(key) is not None:
            clauses.append({"field": wire, "operator": "=", "value": values[key]})
    body: dict[str, Any] = {"query": all_of(clauses)}
    if spec.sorted:
        body["sort"] = {"field": spec.timestamp, "order": "descending"}
    return body


def changed_since(
    client: IntercomClient, spec: PollSpec, values: Mapping[str, Any], since: int
) -> list[dict[str, Any]]:
    """Every record whose timestamp is ``since`` or later (and some older ones).

    A search asks for the whole days from ``since``'s on; another listing is read whole.
    A sorted search (newest first) stops at the first page that reaches back past ``since``.
    """
    if paginator(spec.paging).searches:
        body = _search_query(spec, values, since)
        request = Request(spec.method, spec.path, body=body, idempotent=True)
        at = PagingValues(fetch_all=True, per_page=SEARCH_PAGE)
    else:
        request = Request(spec.method, spec.path)
        at = PagingValues(fetch_all=True)
    found: list[dict[str, Any]] = []
    for page in pages(client, request, spec.paging, at):
        records = [r for r in page.get(spec.paging.records) or [] if isinstance(r, dict)]
        found += records
        oldest = _stamp(records[-1], spec.timestamp) if records else None
        if spec.sorted and oldest is not None and oldest < since:
            break
    return found


@dataclass
class _Changes:
    """The changes one poll found, as events in order of change."""

    spec: PollSpec
    since: int
    known: set[str] = field(default_factory=set)

    def events(self, records: list[dict[str, Any]], seen: frozenset[Pair]) -> list[Event]:
        fresh: dict[Pair, dict[str, Any]] = {}
        for record in records:
            stamp = _stamp(record, self.spec.timestamp)
            if stamp is None or stamp < self.since:
                continue
            pair = (str(record["id"]), stamp)
            if pair not in seen:
                fresh[pair] = record
        return [self._event(fresh[pair]) for pair in sorted(fresh, key=lambda p: (p[1], p[0]))]

    def _event(self, record: dict[str, Any]) -> Event:
        spec, record_id = self.spec, str(record["id"])
        stamp = int(record[spec.timestamp])
        created = record.get("created_at")
        # new to whoever follows this trigger: made within this check's reach, not seen before
        new = spec.timestamp == "created_at" or (
            type(created) is int and created >= self.since and record_id not in self.known
        )
        self.known.add(record_id)
        return {
            "id": f"{spec.topic}:{record_id}:{stamp}",
            "topic": f"{spec.topic}.{'created' if new else 'updated'}",
            "occurred_at": stamp,
            "data": record,
        }


def poll(
    client: IntercomClient,
    trigger: TriggerSpec,
    values: Mapping[str, Any],
    state: Any,
    *,
    now: float,
) -> Polled:
    """The changes since ``state`` (a first check when it is None or {}), as events in
    order of change, and the state to keep. ``now`` (unix seconds) matters only to a first
    check: where "from now" and a backfill start."""
    spec = trigger.poll
    if spec is None:
        raise InputValidationError(
            trigger.label, [InputProblem("trigger", "trigger", "is not a polling trigger")]
        )
    lag = int(values["index_lag"])
    current = read_state(trigger, state)
    if current is not None:
        since = current.cursor - lag
        changes = _Changes(spec, since, {record_id for record_id, _ in current.seen})
        events = changes.events(changed_since(client, spec, values, since), current.seen)
        return Polled(trigger.key, events, current, lag)
    if values["start"] == "backfill":
        since = int(now) - int(values["backfill_days"]) * DAY
        events = _Changes(spec, since).events(
            changed_since(client, spec, values, since), frozenset()
        )
        # as if everything before `since` had been given: the next check reads from `since`
        return Polled(trigger.key, events, PollState(since + lag), lag)
    since = int(now) - FIRST_LOOK
    there = _Changes(spec, since).events(changed_since(client, spec, values, since), frozenset())
    # From now: what is there already counts as given, and nothing is.
    start = advance(PollState(since + lag), there, lag)
    return Polled(trigger.key, [], start, lag)
