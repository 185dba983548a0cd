"""``@frozen``: an immutable record class, as ``@dataclass(frozen=True)`` makes, cheaper to
define.

A frozen dataclass compiles six generated methods with ``exec`` when its module is imported:
about 0.6 ms a class on Python 3.11, paid at every start of the command line, whose ``run``
defines some twenty. ``@frozen`` lets ``dataclasses`` read the fields (defaults, factories,
inheritance: the same rules) but compile nothing; every such class shares one ``__init__``,
equality, hash and repr over its fields, and refuses assignment after ``__init__``
(``dataclasses.FrozenInstanceError``, as a frozen dataclass does). ``dataclasses.fields``,
``replace`` and ``functools.cached_property`` work on them as on any dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")
_MISSING: Any = dataclasses.MISSING
#: per class: its fields in order, as (name, default, default factory)
_FIELDS = "__frozen_fields__"


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[_T] | None = None, *, repr: bool = True) -> Any:
    """Make ``cls`` an immutable record of its annotated fields. A method the class defines
    itself is kept; ``repr=False`` also keeps an inherited ``__repr__`` (a record holding a
    secret writes its own)."""

    def make(cls: type[_T]) -> type[_T]:
        made = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
        setattr(
            made,
            _FIELDS,
            tuple(
                (f.name, f.default, f.default_factory)
                for f in dataclasses.fields(made)  # type: ignore[arg-type]
                if f.init
            ),
        )
        own = vars(cls)  # a method the class writes itself stays, as with a dataclass
        for name, method in {**_METHODS, "__hash__": _hash}.items():
            if name not in own and (name != "__repr__" or repr):
                setattr(made, name, method)
        return made

    return make if cls is None else make(cls)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    kind = type(self)
    specs = getattr(kind, _FIELDS)
    if len(args) > len(specs):
        raise TypeError(f"{kind.__name__}() takes {len(specs)} arguments, not {len(args)}")
    for index, (name, default, factory) in enumerate(specs):
        if index < len(args):
            if name in kwargs:
                raise TypeError(f"{kind.__name__}() got more than one value for {name!r}")
            value = args[index]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif default is not _MISSING:
            value = default
        elif factory is not _MISSING:
            value = factory()
        else:
            raise TypeError(f"{kind.__name__}() is missing the argument {name!r}")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{kind.__name__}() got unexpected arguments {sorted(kwargs)}")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name, _, _ in getattr(type(self), _FIELDS))


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash((type(self).__qualname__, _values(self)))


def _repr(self: Any) -> str:
    shown = ", ".join(
        f"{name}={getattr(self, name)!r}" for name, _, _ in getattr(type(self), _FIELDS)
    )
    return f"{type(self).__qualname__}({shown})"


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


_METHODS: dict[str, Callable[..., Any]] = {
    "__init__": _init,
    "__eq__": _eq,
    "__repr__": _repr,
    "__setattr__": _refuse_set,
    "__delattr__": _refuse_delete,
}
