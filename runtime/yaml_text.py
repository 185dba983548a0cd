"""The one YAML loader of the connector: safe, and refusing aliases that expand without bound.

YAML's aliases (``*name``) repeat what an anchor (``&name``) marks. PyYAML keeps a repeat
as a reference, so loading is cheap; but everything that walks the data afterwards (input
checks, JSON for a request, a flow's outputs) walks every repeat. Nine nested aliases in a
400-byte file make a billion values ("billion laughs"). Every YAML a person gives
(``--inputs``, flow files, connection files, the designer's Load) and connector.yaml itself
is read by ``load_yaml``: aliases may add at most ``MAX_ALIAS_VALUES`` values in all, and
an alias that contains itself is refused. The refusal is a ``yaml.MarkedYAMLError``, so each
caller reports it as it reports a syntax error (runtime/syntax.py): one line, the file named.
"""

from __future__ import annotations

from typing import Any

import yaml

from intercom_connector.runtime.syntax import TOO_DEEP

#: the most values that repeats (aliases) may add to a document: far above any hand-written
#: use of anchors (a shared block of inputs repeated in a few steps), far below a bomb
MAX_ALIAS_VALUES = 10_000

#: libyaml's loader when PyYAML was built with it (7x faster; for connector.yaml), else the
#: pure-Python one; both are safe loaders. A person's files get the pure-Python one, whose
#: messages say more ("not allowed here").
FAST_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AliasExpansionError(yaml.MarkedYAMLError):
    """A document whose aliases would expand past the bound, or that contains itself, or
    a mapping that gives one key twice, or that is nested deeper than the reader goes."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        _refuse_repeated_keys(node)
        return [part for pair in node.value for part in pair]
    return []


def _refuse_repeated_keys(node: yaml.MappingNode) -> None:
    """A key given twice in one mapping: PyYAML keeps the last silently, so an input (or a
    step) written twice would lose one of its values without a word."""
    seen: set[tuple[str, str]] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if (key.tag, key.value) in seen:
                raise AliasExpansionError(
                    problem="this key is given a second time in the same mapping",
                    problem_mark=key.start_mark,
                )
            seen.add((key.tag, key.value))


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a node graph whose expanded size exceeds its own by more than the bound.

    A node reached by an alias is the anchor's node itself (the same object): the size of
    the document as data is the size of the tree with each shared node counted at every
    place it appears, computed once per node (post-order, no recursion: deep nesting is
    no stack overflow).
    """
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            visiting.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            continue
        if key in size:
            continue
        if key in visiting:
            raise AliasExpansionError(
                problem="an alias refers to a value that contains it (endless data)",
                problem_mark=node.start_mark,
            )
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    if size[id(root)] - len(size) > MAX_ALIAS_VALUES:
        raise AliasExpansionError(
            problem=(
                f"its aliases (*name) repeat more than {MAX_ALIAS_VALUES:,} values; "
                "write the values out, or nest fewer aliases"
            ),
            problem_mark=root.start_mark,
        )


def load_yaml(text: str | bytes, loader_class: type[Any] = yaml.SafeLoader) -> Any:
    """YAML (or JSON, which YAML includes) as data: safe tags only, aliases bounded.

    Raises ``yaml.YAMLError`` for a syntax error, and ``AliasExpansionError`` (one of
    them) for a document whose aliases expand past ``MAX_ALIAS_VALUES``.
    """
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node)
        return loader.construct_document(node)
    except RecursionError:  # PyYAML reads a nested value by recursion, a level a call
        raise AliasExpansionError(
            problem=TOO_DEEP,
            problem_mark=loader.get_mark(),  # where the reading stopped
        ) from None
    finally:
        loader.dispose()
