"""Inputs that run each action on the sandbox's demo workspace, derived from the manifest.

A test that runs every action asks ``inputs_for``: the inputs an action must be given
(required ones, and one of each "at least one of" rule) are filled from the manifest: an ID
from its data source's first choice in the workspace (or, for an ID no dropdown gives,
from ``ID_SOURCES``), any other input from its example or first option. An action whose
derived inputs do not fit has an entry in ``SCENARIOS``: the inputs to give it instead,
where "{name}" is the first ID that data source, list action or ID_SOURCES entry gives.
Adding an action needs an entry here only when deriving does not do.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

from intercom_connector import Connector
from intercom_connector.runtime.manifest import ActionSpec, InputSpec, load_manifest

#: where an ID input no data source fills comes from: an action and its inputs, whose
#: first record's id it takes (a list's first, or the one record it makes)
ID_SOURCES: dict[str, tuple[str, dict[str, Any]]] = {
    "conversation_id": ("list_conversations", {}),
    "ticket_id": (
        "search_tickets",
        {"json_query": {"field": "category", "operator": "=", "value": "request"}},
    ),
    # a user: what a message or a conversation takes with the default role
    "a_user": ("find_contact_by_external_id", {"external_id": "crm-1000"}),
    "note_id": ("create_note", {"contact_id": "{select_contact}", "body": "Scenario"}),
}

_ADMIN = "{select_admin}"
#: inputs to give an action instead of the derived ones, where deriving does not do
SCENARIOS: dict[str, dict[str, Any]] = {
    # Intercom requires a title; the manifest cannot say which ticket attributes a type has
    "create_ticket": {
        "ticket_type_id": "{select_ticket_type}",
        "contact_id": "{select_contact}",
        "ticket_attributes": {"default_title": "Scenario"},
    },
    # a name no attribute of the demo workspace has yet
    "create_data_attribute": {"name": "Scenario {n}", "model": "contact", "data_type": "string"},
    "send_message": {"admin_id": _ADMIN, "contact_id": "{a_user}", "body": "Hi"},
    "create_conversation": {"contact_id": "{a_user}", "body": "Hi"},
    "reply_to_conversation": {
        "conversation_id": "{conversation_id}",
        "admin_id": _ADMIN,
        "body": "Hi",
    },
    "reply_to_ticket": {"ticket_id": "{ticket_id}", "admin_id": _ADMIN, "body": "Hi"},
    # a lead and a user sharing an email: the one merge Intercom makes by default
    "merge_contacts": {"lead_contact_id": "{lead}", "user_contact_id": "{user}"},
    # a contact the workspace knows by that external id
    "find_contact_by_external_id": {"external_id": "crm-1000"},
    "raw_request": {"url": "/me", "method": "GET"},
}


#: actions that need another one run first with the same inputs: what to run
PREPARED_BY = {"detach_tag_from_conversation": "attach_tag_to_conversation"}


class Workspace:
    """The demo workspace as seen through ``connector``: the first ID of each source."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.count = itertools.count(1)

    def first(self, name: str) -> Any:
        """The first ID data source or list action ``name`` gives (ID_SOURCES's for an
        input key), or a fresh value for the few names scenarios give themselves."""
        manifest = load_manifest()
        if name == "n":
            return next(self.count)
        if name in ("lead", "user"):
            return self._merge_pair()[name]
        if name in manifest.data_sources:
            choices = self.connector.data_source(name, {})["result"]
            assert choices, f"the data source {name} gives no choice in the demo workspace"
            return choices[0]["key"]
        action_key, inputs = ID_SOURCES.get(name, (name, {}))
        action = manifest.action(action_key)
        data = self.connector.invoke(action_key, self.filled(inputs))["data"]
        records = data[action.paging.records] if action.paging else [data]
        assert records, f"{action_key} gives no record in the demo workspace"
        return records[0]["id"]

    def _merge_pair(self) -> dict[str, str]:
        email = f"scenario-{next(self.count)}@example.com"
        made = {
            role: self.connector.invoke("create_contact", {"email": email, "role": role})
            for role in ("user", "lead")
        }
        return {role: answer["data"]["id"] for role, answer in made.items()}

    def filled(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """``inputs`` with each "{name}" replaced by that source's first ID."""
        pair: dict[str, str] = {}

        def value(text: Any) -> Any:
            if not isinstance(text, str):
                return text
            whole = re.fullmatch(r"\{(\w+)\}", text)
            if whole and whole.group(1) in ("lead", "user"):
                pair.update(pair or self._merge_pair())
                return pair[whole.group(1)]
            if whole:
                return self.first(whole.group(1))
            return re.sub(r"\{(\w+)\}", lambda m: str(self.first(m.group(1))), text)

        return {key: value(given) for key, given in inputs.items()}


def _derived(action: ActionSpec, spec: InputSpec) -> Any:
    if spec.data_source:
        return "{" + spec.data_source + "}"
    if spec.key in ID_SOURCES:
        return "{" + spec.key + "}"
    if spec.example is not None:
        return spec.example
    if spec.options:
        return spec.options[0].value
    if spec.type == "boolean":
        return True
    if spec.type in ("string", "text"):
        return f"{spec.label} of {action.label}"  # a name no other scenario gives
    raise AssertionError(
        f"{spec.key} has no data source, example or option to derive a value from: "
        "give its action an entry in tests/scenarios.py SCENARIOS"
    )


def scenario(action: ActionSpec) -> dict[str, Any]:
    """The inputs of ``action``'s scenario, "{name}" standing for a first ID."""
    if action.key in SCENARIOS:
        return dict(SCENARIOS[action.key])
    needed = [spec for spec in action.value_inputs if spec.required and not spec.has_default]
    for rule in action.rules:
        if rule.type == "at_least_one_of" and not any(s.key in rule.inputs for s in needed):
            needed.append(action.input(rule.inputs[0]))
    return {spec.key: _derived(action, spec) for spec in needed}


def inputs_for(action: ActionSpec, workspace: Workspace) -> dict[str, Any]:
    """Inputs that run ``action`` on the demo workspace (what it needs done first, done)."""
    inputs = workspace.filled(scenario(action))
    if action.key in PREPARED_BY:
        workspace.connector.invoke(PREPARED_BY[action.key], inputs)
    return inputs


def running_order(actions: Iterable[ActionSpec]) -> list[ActionSpec]:
    """Every action, deletes last: what they delete may be what another one reads."""
    return sorted(actions, key=lambda action: action.effect == "delete")
