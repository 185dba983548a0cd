"""Input types: the small closed set an action input can have.

Each type is defined once, here, as a JSON Schema fragment (what a valid value is)
and a coercion (how a value typed into a form, or mapped from an earlier step,
becomes that value: ``"15"`` -> 15, ``"true"`` -> True, JSON text -> object).
Coercion only converts what is unambiguous; anything else is left as it came so that
validation reports it against the schema, with the input's label.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from intercom_connector.runtime.errors import echoed

if TYPE_CHECKING:
    import jsonschema

JSON = Any


class CoercionProblem(ValueError):
    """A value that cannot become its input's type; the message is for a person."""


def _describe(value: object) -> str:
    return echoed(value)


def _as_text(value: JSON) -> JSON:
    # IDs are strings even when they look numeric; an earlier step may hand us 102.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _as_boolean(value: JSON) -> JSON:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise CoercionProblem(f"expected true or false, got {_describe(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


_INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$")


def _as_integer(value: JSON) -> JSON:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.match(text):
            return int(text.split(".")[0])
        raise CoercionProblem(f"expected a whole number, got {_describe(value)}")
    return value


def _as_number(value: JSON) -> JSON:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise CoercionProblem(f"expected a number, got {_describe(value)}") from None
        return int(number) if number.is_integer() else number
    return value


#: unix seconds reach 10**12 in the year 33658; a number this big is milliseconds
_MILLISECONDS = 10**12


def _seconds(number: int) -> int:
    if number >= _MILLISECONDS:
        raise CoercionProblem(
            f"{number} looks like milliseconds; give unix seconds: {number // 1000}"
        )
    return number


def _as_timestamp(value: JSON) -> JSON:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionProblem(f"expected unix seconds, got {_describe(value)}")
        return _seconds(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _seconds(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _INTEGER.match(text):
        return _seconds(int(text.split(".")[0]))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CoercionProblem(
            f"expected unix seconds or an ISO-8601 date-time, got {_describe(value)}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a date-time without offset is read as UTC
    return int(moment.timestamp())


def _as_json(value: JSON) -> JSON:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise CoercionProblem(
                f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
    return value


def _as_value_list(value: JSON) -> JSON:
    if isinstance(value, str):
        stripped = value.strip()
        parsed = _as_json(stripped) if stripped.startswith("[") else [value]
        value = parsed
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return value


def _as_key_value_list(value: JSON) -> JSON:
    if isinstance(value, str):
        value = _as_json(value)
    if isinstance(value, Mapping):
        value = [{"key": k, "value": v} for k, v in value.items()]
    if isinstance(value, list):
        pairs: list[JSON] = []
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:
                item = {"key": item[0], "value": item[1]}
            if isinstance(item, Mapping) and "value" in item:
                item = {**item, "value": _as_text(item["value"])}
            pairs.append(item)
        return pairs
    return value


def _keep(value: JSON) -> JSON:
    return value


_KEY_VALUE_ITEM = {
    "type": "object",
    "properties": {"key": {"type": "string", "minLength": 1}, "value": {"type": "string"}},
    "required": ["key", "value"],
    "additionalProperties": False,
}

#: type name -> (JSON Schema fragment, coercion)
INPUT_TYPES: dict[str, tuple[dict[str, JSON], Callable[[JSON], JSON]]] = {
    "string": ({"type": "string", "minLength": 1}, _as_text),
    "text": ({"type": "string", "minLength": 1}, _as_text),
    "password": ({"type": "string", "minLength": 1, "writeOnly": True}, _as_text),
    "boolean": ({"type": "boolean"}, _as_boolean),
    "integer": ({"type": "integer"}, _as_integer),
    "number": ({"type": "number"}, _as_number),
    "timestamp": ({"type": "integer", "minimum": 0}, _as_timestamp),
    "code": ({}, _as_json),
    "select": ({"type": "string"}, _as_text),
    "value_list": ({"type": "array", "items": {"type": "string"}}, _as_value_list),
    "key_value_list": ({"type": "array", "items": _KEY_VALUE_ITEM}, _as_key_value_list),
    "connection": ({}, _keep),
}

#: type name -> (what a value of it looks like, an example), for people (``describe``)
TYPE_HINTS: dict[str, tuple[str, str]] = {
    "boolean": ("true or false", ""),
    "integer": ("a whole number", "50"),
    "number": ("a number", "19.99"),
    "timestamp": (
        "unix seconds, or an ISO-8601 date-time (UTC unless it has an offset)",
        "2024-03-01T09:00:00Z",
    ),
    "code": ("JSON", '{"plan_tier": "gold"}'),
    "value_list": ("a JSON list of text, or one value", '["vip", "trial"]'),
    "key_value_list": (
        "a JSON object of text values, or a JSON list of {key, value}",
        '{"X-Trace-Id": "abc123"}',
    ),
}


def is_absent(value: JSON) -> bool:
    """An empty form field means "not given", so its default (if any) applies."""
    return value is None or (isinstance(value, str) and value == "")


#: the deepest nesting of lists and objects an input may have: far beyond anything
#: Intercom takes (a search query nests about six levels), far below what the checks
#: and encoders after it can walk (Python's stack, orjson's 255 levels)
MAX_NESTING = 64
_TOO_DEEP = f"is nested too deeply (more than {MAX_NESTING} levels of lists or objects)"


def nesting(value: JSON, stop: int = MAX_NESTING + 1) -> int:
    """How many levels of lists and objects ``value`` has, counted without recursion (a
    value nested thousands deep, or holding itself, is no stack overflow), up to ``stop``."""
    deepest = 0
    level: list[Any] = [value]
    while deepest < stop:
        containers = [part for part in level if isinstance(part, list | tuple | dict)]
        if not containers:
            break
        deepest += 1
        # each value once a level: a value that repeats one list many times (or holds
        # itself) is walked once, not once per repeat
        inner = (
            item
            for part in containers
            for item in (part.values() if isinstance(part, dict) else part)
        )
        level = list({id(item): item for item in inner}.values())
    return deepest


def coerce(type_name: str, value: JSON) -> JSON:
    """Convert ``value`` to ``type_name``; raises CoercionProblem when that cannot be done,
    or when the value nests lists and objects deeper than ``MAX_NESTING`` levels (however
    it came: JSON text, a YAML or JSON file, a flow's mapping, the Python API)."""
    try:
        coerced = INPUT_TYPES[type_name][1](value)
    except RecursionError:  # JSON text nested thousands deep
        raise CoercionProblem(_TOO_DEEP) from None
    if nesting(coerced) > MAX_NESTING:
        raise CoercionProblem(_TOO_DEEP)
    return coerced


def schema_fragment(type_name: str) -> dict[str, JSON]:
    """A fresh copy of the JSON Schema fragment of ``type_name``."""
    return json.loads(json.dumps(INPUT_TYPES[type_name][0]))  # type: ignore[no-any-return]


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "nothing",
}


def _type_words(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(str(name), str(name)) for name in names)


def problem_text(error: jsonschema.ValidationError, pattern_hint: str | None = None) -> str:
    """A person's sentence for one schema violation of one input.

    ``pattern_hint`` (the manifest's) says what a value that misses the pattern should be.
    """
    validator, expected = error.validator, error.validator_value
    if validator == "type":
        text = f"expected {_type_words(expected)}, got {_describe(error.instance)}"
    elif validator == "enum":
        text = f"must be one of {', '.join(map(str, expected))}; got {_describe(error.instance)}"
    elif validator == "minimum":
        text = f"must be at least {expected}; got {_describe(error.instance)}"
    elif validator == "maximum":
        text = f"must be at most {expected}; got {_describe(error.instance)}"
    elif validator == "minLength":
        text = "must not be empty"
    elif validator == "minItems":
        text = f"needs at least {expected} values; got {len(error.instance)}"
    elif validator == "pattern" and pattern_hint:
        text = f"{pattern_hint}; got {_describe(error.instance)}"
    else:  # jsonschema's own sentence, which quotes the value whole: quoted shortened
        text = error.message.replace(repr(error.instance), _describe(error.instance))
    nested = list(error.absolute_path)[1:]
    if nested:
        text = f"at {'.'.join(map(str, nested))}: {text}"
    return text
