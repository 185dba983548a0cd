"""A quick yes/no JSON Schema check for the few keywords the manifest's input schemas use.

jsonschema takes longer to import than the rest of a ``run`` together (a flow engine that
starts one process per step pays that on every step), and nearly every value it is asked
about is valid. ``fits`` answers for plain JSON values and the keywords below, exactly as
jsonschema's Draft 2020-12 validator does; it answers None for anything else (another
keyword, a value that is not plain JSON data), and then jsonschema decides. Only a value
that does not fit needs jsonschema's errors, to say what is wrong: ``schema_errors``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: keywords that only describe (a form shows them); they never make a value invalid
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "writeOnly", "readOnly", "deprecated"}
)
_PLAIN = (str, int, float, bool, type(None), list, dict)


def _plain(value: Any) -> bool:
    """JSON data as a parser gives it: exact built-in types, text keys."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return kind in _PLAIN


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: type(value) is str,
    "boolean": lambda value: type(value) is bool,
    "null": lambda value: value is None,
    "array": lambda value: type(value) is list,
    "object": lambda value: type(value) is dict,
    "number": _is_number,
    # Draft 2020-12: a float with no fractional part is an integer too
    "integer": lambda value: type(value) is int or (type(value) is float and value.is_integer()),
}


class _Unsure(Exception):
    """The schema uses something this check does not decide."""


def _check(schema: Any, value: Any) -> bool:
    if schema is True:
        return True
    if not isinstance(schema, Mapping):
        raise _Unsure
    for keyword, expected in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if not _keyword(keyword, expected, schema, value):
            return False
    return True


def _keyword(keyword: str, expected: Any, schema: Mapping[str, Any], value: Any) -> bool:
    if keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        if not all(isinstance(name, str) and name in _TYPES for name in names):
            raise _Unsure
        return any(_TYPES[name](value) for name in names)
    if keyword == "enum":
        if not isinstance(expected, list) or not all(type(item) is str for item in expected):
            raise _Unsure  # jsonschema's equality of numbers and booleans has its own rules
        return type(value) is str and value in expected
    if keyword in ("minimum", "maximum"):
        if not _is_number(expected):
            raise _Unsure
        if not _is_number(value):
            return True
        # as jsonschema compares (NaN is never below a minimum nor above a maximum)
        return not (value < expected if keyword == "minimum" else value > expected)
    if keyword in ("minLength", "maxLength"):
        if type(expected) is not int:
            raise _Unsure
        if type(value) is not str:
            return True
        return len(value) >= expected if keyword == "minLength" else len(value) <= expected
    if keyword == "minItems":
        if type(expected) is not int:
            raise _Unsure
        return type(value) is not list or len(value) >= expected
    if keyword == "pattern":
        if type(expected) is not str:
            raise _Unsure
        return type(value) is not str or re.search(expected, value) is not None
    if keyword == "items":
        if "prefixItems" in schema:
            raise _Unsure  # then "items" holds only for the items after the prefix
        if type(value) is not list:
            return True
        return all(_check(expected, item) for item in value)
    if keyword == "required":
        if not isinstance(expected, list):
            raise _Unsure
        return type(value) is not dict or all(key in value for key in expected)
    if keyword == "properties":
        if not isinstance(expected, Mapping):
            raise _Unsure
        if type(value) is not dict:
            return True
        return all(_check(sub, value[key]) for key, sub in expected.items() if key in value)
    if keyword in ("allOf", "anyOf"):
        if not isinstance(expected, list) or not expected:
            raise _Unsure
        check = all if keyword == "allOf" else any
        return check(_check(sub, value) for sub in expected)
    if keyword == "not":
        return not _check(expected, value)
    if keyword == "if":
        branch = "then" if _check(expected, value) else "else"
        return _check(schema.get(branch, True), value)
    if keyword in ("then", "else"):
        return True  # decided with "if" (and without one, ignored, as jsonschema does)
    if keyword == "const":
        if type(expected) is str:
            return type(value) is str and value == expected
        if type(expected) is bool:
            return value is expected
        raise _Unsure  # jsonschema's equality of numbers has its own rules
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            raise _Unsure
        if type(value) is not dict:
            return True
        known = schema.get("properties") or {}
        extras = [key for key in value if key not in known]
        if expected is False:
            return not extras
        return all(_check(expected, value[key]) for key in extras)
    raise _Unsure


def fits(schema: Mapping[str, Any], value: Any) -> bool | None:
    """True or False as jsonschema would decide; None when this check cannot tell."""
    if not _plain(value):
        return None
    try:
        return _check(schema, value)
    except _Unsure:
        return None


def schema_errors(
    schema: Mapping[str, Any], value: Any, validator: Callable[[], Any] | None = None
) -> list[Any]:
    """jsonschema's errors for ``value`` (none when it fits), importing jsonschema only when
    the quick check cannot tell or the value does not fit. ``validator`` returns a compiled
    validator of ``schema`` to use (one kept from an earlier call)."""
    if fits(schema, value):
        return []
    if validator is None:
        import jsonschema

        return list(jsonschema.Draft202012Validator(schema).iter_errors(value))
    return list(validator().iter_errors(value))
