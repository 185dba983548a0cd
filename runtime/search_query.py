"""Intercom's search queries, written once: how they are built, and the limits Intercom
puts on them (checked before sending, where Intercom would answer 400).

A query is a filter ``{"field", "operator", "value"}`` or a group ``{"operator": "AND"|"OR",
"value": [...]}``; groups nest at most ``MAX_NESTING`` levels deep and hold at most
``MAX_FILTERS`` filters or groups each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_connector.runtime.errors import InputRefusal

#: Intercom's search limits: groups nest at most this deep, and hold at most this many
MAX_NESTING = 2
MAX_FILTERS = 15


def all_of(filters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The query every one of ``filters`` holds for: one filter alone, or an AND group."""
    if len(filters) == 1:
        return dict(filters[0])
    return {"operator": "AND", "value": [dict(item) for item in filters]}


def equal_to(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The query whose every field (a non-empty mapping) equals its value."""
    return all_of([{"field": key, "operator": "=", "value": v} for key, v in fields.items()])


def search_body(json_query: Mapping[str, Any], key: str = "json_query") -> dict[str, Any]:
    """A search body from a JSON Query input (a query, or a whole body with ``query`` and
    ``sort``), refused as input ``key`` when it breaks Intercom's limits."""
    body = dict(json_query) if "query" in json_query else {"query": dict(json_query)}
    check(body["query"], key)
    return body


def check(query: Any, key: str) -> None:
    """Refuse (InputRefusal of input ``key``) a query Intercom would answer 400."""
    _check(query, key, "query", 1)


def fits(query: Any) -> bool:
    """Whether Intercom takes ``query`` as to its shape and limits."""
    try:
        check(query, "query")
    except InputRefusal:
        return False
    return True


def _check(node: Any, key: str, where: str, level: int) -> None:
    if not isinstance(node, Mapping):
        raise InputRefusal(key, f"at {where}: expected a filter or a group, an object")
    if node.get("operator") not in ("AND", "OR"):
        if not isinstance(node.get("field"), str) or not isinstance(node.get("operator"), str):
            raise InputRefusal(
                key,
                f"at {where}: a filter needs a field and an operator (and a value); a group "
                "needs the operator AND or OR and a list of filters as its value",
            )
        return
    items = node.get("value")
    if level > MAX_NESTING:
        raise InputRefusal(
            key,
            f"at {where}: groups nest {level} levels deep; Intercom allows at most {MAX_NESTING}",
        )
    if not isinstance(items, list) or not items:
        raise InputRefusal(key, f"at {where}: an {node['operator']} group needs a list")
    if len(items) > MAX_FILTERS:
        raise InputRefusal(
            key,
            f"at {where}: an {node['operator']} group holds {len(items)} filters; Intercom "
            f"allows at most {MAX_FILTERS} a group",
        )
    for index, item in enumerate(items):
        _check(item, key, f"{where}.value[{index}]", level + 1)
