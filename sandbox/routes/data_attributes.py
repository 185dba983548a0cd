"""Data attributes: the workspace's standard and custom attributes of contacts and
companies, and the check that a custom attribute set on one exists."""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes
from intercom_connector.sandbox.store import Record, Store

route = Routes()


def check_custom_attributes(db: Any, model: str, changes: Record) -> None:
    """Intercom sets only custom attributes the workspace has (GET /data_attributes)."""
    given = changes.get("custom_attributes") or {}
    if not given:
        return
    known = {
        name for (name,) in db.execute("SELECT name FROM data_attributes WHERE model = ?", (model,))
    }
    for name in given:
        if name not in known:
            raise ApiError(400, "parameter_invalid", f"Custom attribute '{name}' does not exist")


_MODELS = ("contact", "company")
_DATA_TYPES = ("string", "integer", "float", "boolean", "date", "datetime", "options")


def _model_data(model: str) -> str:
    return "people data" if model == "contact" else "company data"


def _attribute_name_ok(name: str) -> bool:
    return all(ch.isalnum() or ch in " _-" or unicodedata.category(ch) == "Sc" for ch in name)


def _options(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ApiError(400, "parameter_invalid", "Options isn't an array", "options")
    values = [item.get("value") if isinstance(item, dict) else None for item in value]
    if any(not isinstance(v, str) or not v for v in values):
        raise ApiError(400, "parameter_invalid", "each option needs a text value", "options")
    if len(values) < 2:
        message = "You must have at least two options on a list type data attribute"
        raise ApiError(400, "parameter_invalid", message, "options")
    return [str(v) for v in values]


@route("GET", "/data_attributes")
def list_data_attributes(db: Any, request: Request) -> Record:
    model = request.arg("model")
    if model == "conversation":
        message = (
            "model=conversation is no longer supported. Use GET /conversations/attributes instead"
        )
        raise ApiError(422, "parameter_invalid", message, "model")
    if model is not None and model not in _MODELS:
        raise ApiError(400, "parameter_invalid", "model must be contact or company", "model")
    archived = request.boolean("include_archived")
    shown = []
    for each in [model] if model else _MODELS:
        custom = Store.many(
            db, "SELECT body FROM data_attributes WHERE model = ? ORDER BY id", each
        )
        shown += records.standard_attributes(each)
        shown += [attribute for attribute in custom if archived or not attribute["archived"]]
    return {"type": "list", "data": shown}


@route("POST", "/data_attributes")
def create_data_attribute(db: Any, request: Request) -> Record:
    body = request.json_object()
    name, model, data_type = body.get("name"), body.get("model"), body.get("data_type")
    if model not in _MODELS:
        message = "The Data Attribute model field must be either contact or company"
        raise ApiError(400, "parameter_invalid", message, "model")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "parameter_not_found", "name is required", "name")
    if not _attribute_name_ok(name):
        message = (
            "Your name for this attribute must only contain alphanumeric characters, "
            "currency symbols, and hyphens"
        )
        raise ApiError(400, "parameter_invalid", message, "name")
    asked = _model_data(model)
    standard = {a["name"].lower() for a in records.standard_attributes(model)}
    if name.lower() in standard:
        message = (
            f"'{name.capitalize()}' is one of our standard attributes for your {asked}. "
            f"To save this as new {asked}, use a different name."
        )
        raise ApiError(400, "parameter_invalid", message, "name")
    clash = Store.scalar(db, "SELECT model FROM data_attributes WHERE name = ?", name)
    if clash:
        message = (
            f"You already have '{name}' in your {_model_data(clash)}. "
            f"To save this as new {asked}, use a different name."
        )
        raise ApiError(400, "parameter_invalid", message, "name")
    if data_type not in _DATA_TYPES:
        raise ApiError(400, "parameter_invalid", "Data Type isn't an option", "data_type")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise ApiError(400, "parameter_invalid", "description must be text", "description")
    fields: Record = {
        "name": name,
        "model": model,
        "data_type": {"options": "string", "datetime": "date"}.get(data_type, data_type),
        "description": description,
        "messenger_writable": body.get("messenger_writable") is True,
    }
    if data_type == "options":
        fields["options"] = _options(body.get("options"))
    return records.insert_data_attribute(db, fields, int(time.time()))


@route("PUT", "/data_attributes/{data_attribute_id}")
def update_data_attribute(db: Any, request: Request, data_attribute_id: str) -> Record:
    number = int(data_attribute_id) if data_attribute_id.isdigit() else -1
    found = Store.one(db, "SELECT body FROM data_attributes WHERE id = ?", number)
    if found is None:
        message = "We couldn't find that data attribute to update"
        raise ApiError(404, "field_not_found", message)
    body = request.json_object()
    for key in ("archived", "messenger_writable"):
        if key in body:
            if not isinstance(body[key], bool):
                raise ApiError(400, "parameter_invalid", f"{key} must be true or false", key)
            found[key] = body[key]
    if "description" in body:
        if not isinstance(body["description"], str):
            raise ApiError(400, "parameter_invalid", "description must be text", "description")
        found["description"] = body["description"]
    if "options" in body:
        if found["data_type"] != "string":
            message = "Options can only be managed on list attributes"
            raise ApiError(400, "parameter_invalid", message, "options")
        found["options"] = _options(body["options"])
    found["updated_at"] = int(time.time())
    records.save_data_attribute(db, found)
    return found
