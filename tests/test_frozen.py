"""runtime/frozen.py: records that behave as frozen dataclasses do, cheaper to define."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import pytest

from intercom_connector.runtime.frozen import frozen


@frozen
class Base:
    key: str
    label: str = ""
    extra: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def shouted(self) -> str:
        return self.key.upper()


@frozen
class Child(Base):
    count: int = 0


@frozen
class Secretive:
    token: str

    def __repr__(self) -> str:
        return "Secretive(token=***)"


def test_fields_defaults_and_factories_as_a_dataclass_has_them() -> None:
    one, two = Base("a"), Base("b", "B", {"x": "1"})
    assert (one.key, one.label, one.extra) == ("a", "", {})
    assert two.extra == {"x": "1"}
    assert Base("c").extra is not Base("d").extra  # a new mapping each time
    assert Child("k", count=3) == Child(key="k", label="", count=3)
    assert [f.name for f in dataclasses.fields(Child)] == ["key", "label", "extra", "count"]
    assert dataclasses.replace(Child("k"), count=9).count == 9
    assert one.shouted == "A"  # cached_property works on it


def test_equality_hash_and_repr_come_from_the_fields() -> None:
    assert Base("a", "A") == Base("a", "A") and Base("a") != Base("b")
    assert Base("a") != Child("a")  # another class is never equal
    assert repr(Child("k", count=2)) == "Child(key='k', label='', extra={}, count=2)"

    @frozen
    class Point:
        x: int
        y: int = 0

    assert hash(Point(1, 2)) == hash(Point(1, 2)) and len({Point(1), Point(1)}) == 1


def test_a_record_cannot_be_changed() -> None:
    record = Base("a")
    with pytest.raises(dataclasses.FrozenInstanceError, match="'key'"):
        record.key = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.label  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: Base(), "missing the argument 'key'"),
        (lambda: Base("a", nope=1), r"unexpected arguments \['nope'\]"),
        (lambda: Base("a", key="b"), "more than one value for 'key'"),
        (lambda: Base("a", "b", {}, 4), "takes 3 arguments, not 4"),
    ],
)
def test_wrong_arguments_are_refused_by_name(make: object, says: str) -> None:
    with pytest.raises(TypeError, match=says):
        make()  # type: ignore[operator]


def test_a_method_the_class_writes_itself_is_kept() -> None:
    assert repr(Secretive("t0ken")) == "Secretive(token=***)"
