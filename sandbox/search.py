"""Intercom's search language (POST /contacts/search, and the conversations' and tickets'
searches, each over its own fields), evaluated in Python.

A query is a filter ``{field, operator, value}`` or a group ``{operator: AND|OR, value:
[...]}``; groups nest at most two levels deep and hold at most 15 filters. Operators
depend on the field's type, as Intercom's description lists them: strings take
``= != IN NIN ~ !~ ^ $``, integers ``= != IN NIN < > <= >=``, booleans ``= != IN NIN``,
dates (the ``*_at`` fields) only ``= < >``, compared by calendar day in the workspace's
timezone (``>`` matches from the next day on), and ``tag_id``/``company_id``/``segment_id``
only ``=`` and ``!=``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

Contact = Mapping[str, Any]
Predicate = Callable[[Contact], bool]

STRING_FIELDS = {
    "id", "role", "name", "email", "email_domain", "phone", "external_id", "owner_id",
    "language_override", "browser", "browser_language", "os",
    "location.country", "location.region", "location.city",
}  # fmt: skip
DATE_FIELDS = {
    "created_at", "updated_at", "signed_up_at", "last_seen_at", "last_contacted_at",
    "last_replied_at", "last_email_opened_at", "last_email_clicked_at",
}  # fmt: skip
BOOLEAN_FIELDS = {"unsubscribed_from_emails", "has_hard_bounced", "marked_email_as_spam"}
INTEGER_FIELDS: set[str] = set()
MEMBERSHIP_FIELDS = {"tag_id": "tag_ids", "company_id": "company_ids", "segment_id": "segment_ids"}

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


def field_type(field: str, sample: Any = None, fields: Mapping[str, str] | None = None) -> str:
    """A field's type: a contact's (the default), or as ``fields`` (another model's) says."""
    if fields is not None:
        if field in fields:
            return fields[field]
        raise SearchError("parameter_invalid", f"'{field}' is not a searchable field")
    if field in MEMBERSHIP_FIELDS:
        return "membership"
    if field in STRING_FIELDS:
        return "string"
    if field in DATE_FIELDS:
        return "date"
    if field in BOOLEAN_FIELDS:
        return "boolean"
    if field in INTEGER_FIELDS:
        return "integer"
    if field.startswith("custom_attributes.") and len(field) > len("custom_attributes."):
        if isinstance(sample, bool):
            return "boolean"
        if isinstance(sample, int | float):
            return "integer"
        return "string"
    raise SearchError("parameter_invalid", f"'{field}' is not a searchable contact field")


def value_of(contact: Contact, field: str) -> Any:
    """The value a filter on ``field`` compares, from a contact's search view."""
    if field in MEMBERSHIP_FIELDS:
        return contact.get(MEMBERSHIP_FIELDS[field], ())
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


def _filter(query: Mapping[str, Any], zone: tzinfo, fields: Mapping[str, str] | None) -> Predicate:
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
        return _compare(kind, operator, value_of(contact, field), expected, zone)

    return test


def compile_query(
    query: Any, depth: int = 0, *, zone: tzinfo = UTC, fields: Mapping[str, str] | None = None
) -> Predicate:
    """A predicate for ``query``; SearchError when Intercom would refuse it. ``zone`` is the
    workspace's timezone (dates compare by day in it); ``fields`` another model's fields."""
    if not isinstance(query, Mapping):
        raise SearchError("parameter_invalid", "query must be an object")
    operator = query.get("operator")
    if operator not in ("AND", "OR"):
        return _filter(query, zone, fields)
    if depth >= MAX_DEPTH:
        raise SearchError("parameter_invalid", "queries nest at most 2 levels deep")
    items = query.get("value")
    if not isinstance(items, list) or not items:
        raise SearchError("parameter_invalid", f"an {operator} group needs a list of filters")
    if len(items) > MAX_FILTERS:
        raise SearchError("parameter_invalid", f"an {operator} group holds at most 15 filters")
    parts = [compile_query(item, depth + 1, zone=zone, fields=fields) for item in items]
    if operator == "AND":
        return lambda contact: all(part(contact) for part in parts)
    return lambda contact: any(part(contact) for part in parts)


def sort_key(
    field: str, fields: Mapping[str, str] | None = None
) -> Callable[[Contact], tuple[bool, Any]]:
    """Records with no value sort last whatever the order, as Intercom's do."""
    field_type(field, fields=fields)

    def key(contact: Contact) -> tuple[bool, Any]:
        value = value_of(contact, field)
        return (value is None, _text(value) if isinstance(value, str) else value)

    return key
