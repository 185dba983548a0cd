"""Where Intercom's 2.16 description, or openapi-core reading it, cannot check a request
Intercom takes or an answer it gives, and what is checked instead. Each correction says
why; the description itself is never edited (it is data, in ../shared).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from openapi_schema_validator import OAS30Validator

Document = dict[str, Any]


@dataclass(frozen=True)
class Correction:
    where: str
    why: str
    apply: Callable[[Document], None]


def _operation(document: Document, method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


def _contact_id_is_text(document: Document) -> None:
    for parameter in _operation(document, "post", "/contacts/{contact_id}/notes")["parameters"]:
        if parameter["name"] == "contact_id":
            assert parameter["schema"] == {"type": "integer"}
            parameter["schema"] = {"type": "string"}


def _filter_as_its_fields(document: Document) -> None:
    parameters = _operation(document, "get", "/events")["parameters"]
    (found,) = [p for p in parameters if p["name"] == "filter"]
    parameters.remove(found)
    for branch in found["schema"]["oneOf"]:
        (name,) = branch["properties"]
        parameters.append({"name": name, "in": "query", "schema": {"type": "string"}})


def _tag_bodies_apart(document: Document) -> None:
    """Each branch of POST /tags as its title says: a rename has no companies or users, a
    tagging no untag, an untagging untag on each company."""
    schemas = document["components"]["schemas"]
    rename = schemas["create_or_update_tag_request"]
    rename["not"] = {"anyOf": [{"required": ["companies"]}, {"required": ["users"]}]}
    tag_items = schemas["tag_company_request"]["properties"]["companies"]["items"]
    tag_items["not"] = {"required": ["untag"]}
    untag_items = schemas["untag_company_request"]["properties"]["companies"]["items"]
    untag_items["required"] = ["untag"]


def _other_type_has_no_options(document: Document) -> None:
    branches = document["components"]["schemas"]["update_data_attribute_request"]["oneOf"]
    (other,) = [branch for branch in branches if branch.get("title") == "other type"]
    other["not"] = {"required": ["options"]}


#: a metadata value as the description's own table lists them
_METADATA_VALUE = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        },
    ]
}


def _metadata_as_described(document: Document) -> None:
    schemas = document["components"]["schemas"]
    for name in ("create_data_event_request", "data_event"):
        metadata = schemas[name]["properties"]["metadata"]
        assert metadata["additionalProperties"] == {"type": "string"}
        metadata["additionalProperties"] = _METADATA_VALUE


def _whatsapp_message(document: Document) -> None:
    kinds = document["components"]["schemas"]["message"]["properties"]["message_type"]["enum"]
    kinds.append("whatsapp")


CORRECTIONS = [
    Correction(
        "POST /contacts/{contact_id}/notes",
        "types contact_id as an integer, there only: Intercom's contact ids are 24 hex "
        "characters, a string on every other path",
        _contact_id_is_text,
    ),
    Correction(
        "GET /events",
        "names the contact with `filter`, an object exploded into the query "
        "(intercom_user_id=..., user_id=... or email=...), which openapi-core 0.23 cannot "
        "read; its fields are checked as query parameters, and the object against its own "
        "schema by check_exploded_filters",
        _filter_as_its_fields,
    ),
    Correction(
        "POST /tags",
        "its oneOf cannot be met by a body tagging companies, which fits "
        "create_or_update_tag_request, tag_company_request and untag_company_request at once; "
        "each branch is held to what its title says, so that exactly one fits",
        _tag_bodies_apart,
    ),
    Correction(
        "PUT /data_attributes/{data_attribute_id}",
        "its oneOf cannot be met by a body with options, since its 'other type' branch takes "
        "anything; that branch is held to having no options",
        _other_type_has_no_options,
    ),
    Correction(
        "POST /events and its events' metadata",
        "the schema takes text values only, while the operation's own table lists numbers, "
        "links {url, value} and amounts {amount, currency}",
        _metadata_as_described,
    ),
    Correction(
        "message.message_type",
        "lists no WhatsApp kind for the answer, while a request may send message_type whatsapp",
        _whatsapp_message,
    ),
]


def corrected(document: Document) -> Document:
    """A copy of the description with every correction applied."""
    fixed = copy.deepcopy(document)
    for correction in CORRECTIONS:
        correction.apply(fixed)
    return fixed


def check_exploded_filters(request: httpx.Request, document: Document) -> None:
    """The form-exploded object parameters of a request, against their schemas in the
    original description (openapi-core cannot read them)."""
    path = request.url.path
    if (request.method, path) != ("GET", "/events"):
        return
    (parameter,) = [
        p for p in _operation(document, "get", "/events")["parameters"] if p["name"] == "filter"
    ]
    names = {name for branch in parameter["schema"]["oneOf"] for name in branch["properties"]}
    query = parse_qs(request.url.query.decode())
    value = {name: query[name][0] for name in names if name in query}
    errors = list(OAS30Validator(parameter["schema"]).iter_errors(value))
    assert not errors, f"GET /events breaks the spec: filter {value}: {errors[0].message}"
