"""Intercom's search language (POST /contacts/search, /conversations/search,
/tickets/search), evaluated in Python.

A query is a filter ``{field, operator, value}`` or a group ``{operator: AND|OR, value:
[...]}``; groups nest at most two levels deep and hold at most 15 filters. Operators
depend on the field's type, as Intercom's description lists them: strings take
``= != IN NIN ~ !~ ^ $``, integers ``= != IN NIN < > <= >=``, booleans ``= != IN NIN``,
dates (the ``*_at`` fields) only ``= < >``, compared by calendar day in the workspace's
timezone (``>`` matches from the next day on), and ``tag_id``/``company_id``/``segment_id``
only ``=`` and ``!=``. A list field (a conversation's ``contact_ids``) matches when one of
its items does. Each resource has its own fields (``Fields``); a record is searched
through its search view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

Contact = Mapping[str, Any]
Predicate = Callable[[Contact], bool]


@dataclasses.dataclass(frozen=True)
class Fields:
    """One resource's searchable fields, by the type their operators depend on."""

    resource: str
    string: frozenset[str]
    date: frozenset[str]
    boolean: frozenset[str] = frozenset()
    integer: frozenset[str] = frozenset()
    #: a filter on the key tests whether the view's list (the value) holds the value
    membership: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: list fields: a filter matches when one of the items does
    lists: frozenset[str] = frozenset()
    #: text searched word by word: ``=`` matches one of its words
    words: frozenset[str] = frozenset()
    custom_attributes: bool = True


CONTACTS = Fields(
    "contact",
    string=frozenset({
        "id", "role", "name", "email", "email_domain", "phone", "external_id", "owner_id",
        "language_override", "browser", "browser_language", "os",
        "location.country", "location.region", "location.city",
    }),
    date=frozenset({
        "created_at", "updated_at", "signed_up_at", "last_seen_at", "last_contacted_at",
        "last_replied_at", "last_email_opened_at", "last_email_clicked_at",
    }),
    boolean=frozenset({"unsubscribed_from_emails", "has_hard_bounced", "marked_email_as_spam"}),
    membership={"tag_id": "tag_ids", "company_id": "company_ids", "segment_id": "segment_ids"},
)  # fmt: skip
CONVERSATIONS = Fields(
    "conversation",
    string=frozenset({
        "id", "source.type", "source.id", "source.delivered_as", "source.subject",
        "source.author.id", "source.author.type", "source.author.name", "source.author.email",
        "source.url", "channel_initiated", "state", "priority", "title",
    }),
    date=frozenset({"created_at", "updated_at", "waiting_since", "snoozed_until"}),
    boolean=frozenset({"open", "read", "ai_agent_participated"}),
    integer=frozenset({"admin_assignee_id", "team_assignee_id"}),
    lists=frozenset({"contact_ids", "teammate_ids", "tag_ids"}),
    words=frozenset({"source.body"}),
)  # fmt: skip
TICKETS = Fields(
    "ticket",
    string=frozenset({
        "id", "title", "description", "category", "ticket_type_id", "admin_assignee_id",
        "team_assignee_id", "state",
    }),
    date=frozenset({"created_at", "updated_at", "snoozed_until"}),
    boolean=frozenset({"open"}),
    lists=frozenset({"contact_ids", "teammate_ids"}),
    custom_attributes=False,
)  # fmt: skip
OPERATORS = {
    "string": {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"},
    "integer": {"=", "!=", "IN", "NIN", "<", ">", "<=", ">="},
    "boolean": {"=", "!=", "IN", "NIN"},
    "date": {"=", "<", ">"},
    "membership": {"=", "!="},
}
MAX_DEPTH = 2
MAX_FILTERS = 15


class SearchError(ValueError):
    """A query Intercom would refuse: 400 with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def field_type(field: str, sample: Any = None, fields: Fields = CONTACTS) -> str:
    if field in fields.membership:
        return "membership"
    if field in fields.string or field in fields.lists or field in fields.words:
        return "string"
    if field in fields.date:
        return "date"
    if field in fields.boolean:
        return "boolean"
    if field in fields.integer:
        return "integer"
    custom = field.startswith("custom_attributes.") and len(field) > len("custom_attributes.")
    if custom and fields.custom_attributes:
        if isinstance(sample, bool):
            return "boolean"
        if isinstance(sample, int | float):
            return "integer"
        return "string"
    raise SearchError("parameter_invalid", f"'{field}' is not a searchable {fields.resource} field")


def value_of(contact: Contact, field: str, fields: Fields = CONTACTS) -> Any:
    """The value a filter on ``field`` compares, from a record's search view."""
    if field in fields.membership:
        return contact.get(fields.membership[field], ())
    value: Any = contact
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _day(timestamp: Any, zone: tzinfo) -> Any:
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return None
    return datetime.fromtimestamp(timestamp, zone).date()


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower()


def _compare(kind: str, operator: str, actual: Any, expected: Any, zone: tzinfo = UTC) -> bool:
    if kind == "membership":
        found = str(expected) in {str(item) for item in actual}
        return found if operator == "=" else not found
    if kind == "date":
        actual, expected = _day(actual, zone), _day(expected, zone)
        if actual is None or expected is None:
            return False
        return bool(
            {"=": actual == expected, "<": actual < expected, ">": actual > expected}[operator]
        )
    if operator in ("IN", "NIN"):
        found = any(_equal(kind, actual, item) for item in expected)
        return found if operator == "IN" else not found
    if operator == "=":
        return _equal(kind, actual, expected)
    if operator == "!=":
        return not _equal(kind, actual, expected)
    if operator in ("~", "!~", "^", "$"):
        haystack, needle = _text(actual), _text(expected)
        if operator == "^":
            return actual is not None and haystack.startswith(needle)
        if operator == "$":
            return actual is not None and haystack.endswith(needle)
        contains = actual is not None and needle in haystack
        return contains if operator == "~" else not contains
    if actual is None or isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    return bool(
        {
            "<": actual < expected,
            ">": actual > expected,
            "<=": actual <= expected,
            ">=": actual >= expected,
        }[operator]
    )


def _equal(kind: str, actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None or actual == ""
    if kind == "string":
        return _text(actual) == _text(expected)  # Intercom's string matching ignores case
    return bool(actual == expected)


def _filter(query: Mapping[str, Any], fields: Fields, zone: tzinfo) -> Predicate:
    field, operator, expected = query.get("field"), query.get("operator"), query.get("value")
    if not isinstance(field, str) or not isinstance(operator, str):
        raise SearchError("parameter_invalid", "a filter needs a field and an operator")
    sample = expected[0] if isinstance(expected, list) and expected else expected
    kind = field_type(field, sample, fields)
    if operator not in OPERATORS[kind]:
        allowed = " ".join(sorted(OPERATORS[kind]))
        raise SearchError(
            "parameter_invalid",
            f"operator '{operator}' cannot be used on '{field}' ({kind}); use one of {allowed}",
        )
    if operator in ("IN", "NIN") and not isinstance(expected, list):
        raise SearchError("parameter_invalid", f"operator '{operator}' needs a list value")
    if operator in ("<", ">", "<=", ">=") and (
        isinstance(expected, bool) or not isinstance(expected, int | float)
    ):
        raise SearchError("parameter_invalid", f"operator '{operator}' needs a number")

    def test(contact: Contact) -> bool:
        actual = value_of(contact, field, fields)
        by_word = field in fields.words and operator in ("=", "!=", "IN", "NIN")
        if field in fields.lists or by_word:
            # each item (each word of the text) is compared, not the whole
            items = _text(actual).split() if by_word else actual or ()
            if operator in ("!=", "NIN", "!~"):
                positive = {"!=": "=", "NIN": "IN", "!~": "~"}[operator]
                return not any(_compare(kind, positive, item, expected, zone) for item in items)
            return any(_compare(kind, operator, item, expected, zone) for item in items)
        return _compare(kind, operator, actual, expected, zone)

    return test


def compile_query(
    query: Any, depth: int = 0, fields: Fields = CONTACTS, *, zone: tzinfo = UTC
) -> Predicate:
    """A predicate for ``query`` on ``fields``; SearchError when Intercom would refuse it.
    ``zone`` is the workspace's timezone: dates compare by calendar day in it."""
    if not isinstance(query, Mapping):
        raise SearchError("parameter_invalid", "query must be an object")
    operator = query.get("operator")
    if operator not in ("AND", "OR"):
        return _filter(query, fields, zone)
    if depth >= MAX_DEPTH:
        raise SearchError("parameter_invalid", "queries nest at most 2 levels deep")
    items = query.get("value")
    if not isinstance(items, list) or not items:
        raise SearchError("parameter_invalid", f"an {operator} group needs a list of filters")
    if len(items) > MAX_FILTERS:
        raise SearchError("parameter_invalid", f"an {operator} group holds at most 15 filters")
    parts = [compile_query(item, depth + 1, fields, zone=zone) for item in items]
    if operator == "AND":
        return lambda contact: all(part(contact) for part in parts)
    return lambda contact: any(part(contact) for part in parts)


def sort_key(field: str, fields: Fields = CONTACTS) -> Callable[[Contact], tuple[bool, Any]]:
    """Records with no value sort last whatever the order, as Intercom's do."""
    field_type(field, fields=fields)

    def key(contact: Contact) -> tuple[bool, Any]:
        value = value_of(contact, field, fields)
        return (value is None, _text(value) if isinstance(value, str) else value)

    return key
