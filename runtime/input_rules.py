"""Rules across inputs, declared in the manifest and compiled into the input JSON Schema.

An operation's ``when:`` list says what its inputs need of each other, as n8n's
``displayOptions`` and JSON Schema's ``if``/``then`` do, so that a form, an MCP client and
the docs show it before a run:

.. code-block:: yaml

    when:
      - if: {message_type: email}        # every input named has one of the values given
        require: [subject, body]         # then these are given,
        forbid: [whatsapp_template]      # these are not,
      - if_given: [name, tag_id]         # (or: any of these is given)
        must_be: {order: desc}           # and this one has that value
        because: only the unfiltered list is sorted

An input counts as given when it has a value other than false, as for ``at_least_one_of``
and ``at_most_one_of``. The shim checks a rule here (``When.problems``: one line per input,
by label); the same rule is in the operation's input schema (``When.schema``) for any host
that validates with JSON Schema.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import field
from typing import Any

from intercom_connector.runtime.frozen import frozen

Label = Callable[[str], str]


def is_given(value: Any) -> bool:
    """An input counts as given when it has a value other than false."""
    return value is not None and value is not False


@frozen
class When:
    """One rule across inputs: when its condition holds, ``require`` are given, ``forbid``
    are not, and each input of ``must_be`` has that value. The condition: each input of
    ``values`` has one of its values, and (when ``given`` names some) one of ``given`` is
    given. ``because``: why, added to each message."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    given: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    must_be: Mapping[str, str] = field(default_factory=dict)
    because: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> When:
        """A rule as connector.yaml declares it (checked by its meta-schema)."""
        values = {
            key: tuple(value) if isinstance(value, list) else (value,)
            for key, value in (raw.get("if") or {}).items()
        }
        return cls(
            values,
            tuple(raw.get("if_given", ())),
            tuple(raw.get("require", ())),
            tuple(raw.get("forbid", ())),
            dict(raw.get("must_be") or {}),
            raw.get("because"),
        )

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every input the rule names, in order, once."""
        keys = [*self.values, *self.given, *self.require, *self.forbid, *self.must_be]
        return tuple(dict.fromkeys(keys))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``values`` (validated inputs)."""
        matched = all(values.get(key) in options for key, options in self.values.items())
        return matched and (not self.given or any(is_given(values.get(k)) for k in self.given))

    def problems(self, values: Mapping[str, Any], label: Label) -> list[tuple[str, str]]:
        """What ``values`` break of the rule: (input key, problem) pairs, the problem a
        clause that follows the input's label."""
        if not self.holds(values):
            return []
        given = [key for key in self.given if is_given(values.get(key))]
        condition = self._condition(label, given, values)
        why = f": {self.because}" if self.because else ""
        found = []
        missing = [key for key in self.require if not is_given(values.get(key))]
        if missing:
            text = f"is required when {condition}"
            others = [label(key) for key in missing[1:]]
            if others:
                text += f", and so {'is' if len(others) == 1 else 'are'} {_and(others)}"
            found.append((missing[0], text + why))
        for key in self.forbid:
            if is_given(values.get(key)):
                found.append((key, f"is not sent when {condition}{why}"))
        for key, value in self.must_be.items():
            if values.get(key) != value:
                found.append((key, f"must be {value} when {condition}{why}"))
        return found

    def describe(self, label: Label) -> str:
        """The rule as a sentence, for a form, an MCP client and the docs."""
        parts = []
        if self.require:
            are = "is" if len(self.require) == 1 else "are"
            parts.append(f"{_and([label(k) for k in self.require])} {are} required")
        if self.forbid:
            are = "is" if len(self.forbid) == 1 else "are"
            parts.append(f"{_and([label(k) for k in self.forbid], 'or')} {are} not sent")
        parts += [f"{label(key)} must be {value}" for key, value in self.must_be.items()]
        why = f" ({self.because})" if self.because else ""
        return f"When {self._condition(label, list(self.given))}: {'; '.join(parts)}{why}."

    def _condition(
        self, label: Label, given: list[str], values: Mapping[str, Any] | None = None
    ) -> str:
        """The condition in words: of ``values`` when given (the value each input has,
        the inputs given), else of the rule (every value, every input it names)."""
        parts = [
            f"{label(key)} is {values[key] if values else _and(list(options), 'or')}"
            for key, options in self.values.items()
        ]
        if given:
            are = "are" if values and len(given) > 1 else "is"
            joiner = "and" if values else "or"
            parts.append(f"{_and([label(k) for k in given], joiner)} {are} given")
        return " and ".join(parts)

    def schema(self, booleans: Collection[str]) -> dict[str, Any]:
        """The rule as JSON Schema ``if``/``then`` over the input object; ``booleans``: the
        inputs of type boolean (given only when true)."""

        def given(key: str) -> dict[str, Any]:
            if key in booleans:
                return {"required": [key], "properties": {key: {"const": True}}}
            return {"required": [key]}

        condition: list[dict[str, Any]] = [
            {"required": [key], "properties": {key: {"enum": list(options)}}}
            for key, options in self.values.items()
        ]
        if self.given:
            condition.append({"anyOf": [given(key) for key in self.given]})
        then: list[dict[str, Any]] = []
        if self.require:
            then += [given(key) for key in self.require]
        if self.forbid:
            then.append({"not": {"anyOf": [given(key) for key in self.forbid]}})
        for key, value in self.must_be.items():
            then.append({"required": [key], "properties": {key: {"const": value}}})
        return {"if": _all(condition), "then": _all(then)}


def _all(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    return schemas[0] if len(schemas) == 1 else {"allOf": schemas}


def _and(names: list[str], joiner: str = "and") -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {joiner} {names[-1]}"
