"""YAML reading and writing in one style (block style, key order kept, long lines unwrapped).

Reading is bounded, because whoever can write a config file can hand the gateway any text.
A text longer than MAX_CHARACTERS, with more than MAX_DOCUMENTS documents or MAX_NODES nodes,
nested deeper than MAX_DEPTH, or whose aliases expand to more than MAX_ALIAS_NODES nodes (a
"billion laughs" bomb of nested anchors) is refused with a `YamlLimitError` while it is
composed, before any object is built from it. `describe_yaml_error` says where a text is
broken without quoting it: the broken line may hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event, NodeEvent
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

MAX_CHARACTERS: Final = 1024 * 1024
MAX_DOCUMENTS: Final = 1000
MAX_NODES: Final = 100_000
MAX_DEPTH: Final = 64
MAX_ALIAS_NODES: Final = 10_000
"""Nodes that aliases may add to a text in all: sharing a block among many tiers fits easily."""


class YamlLimitError(yaml.MarkedYAMLError):
    """A text is refused for its size or shape (not its syntax), before it is turned into objects."""


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as kubectl and most Kubernetes YAML does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_yaml(document: Any) -> str:
    """One YAML document as text."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def load_documents(text: str) -> Iterator[Any]:
    """Every non-empty document of a (multi-document) YAML text, within the bounds above."""
    if len(text) > MAX_CHARACTERS:
        raise YamlLimitError(problem=f"the text is longer than {MAX_CHARACTERS} characters")
    loader = _BoundedLoader(text)
    try:
        documents = 0
        while loader.check_data():
            documents += 1
            if documents > MAX_DOCUMENTS:
                raise _refused(f"more than {MAX_DOCUMENTS} documents", loader.peek_event())
            document = loader.get_data()
            if document is not None:
                yield document
    finally:
        loader.dispose()


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """Where and why a text is not valid YAML: line, column and the parser's words, never the text."""
    if isinstance(exc, ReaderError):
        return f"position {exc.position}: {exc.reason}"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    mark = exc.problem_mark or exc.context_mark
    text = exc.problem or exc.context or "not valid YAML"
    if mark is not None:
        text = f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    if exc.problem and exc.context:
        started = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
        text += f" ({exc.context}{started})"
    # Anchors, aliases and tags are quoted in some problems; they are the text's own words.
    return _QUOTED.sub("'...'", text)


_QUOTED: Final = re.compile(r"'(?!<)[^']{5,}'")
"""A quoted fragment other than a token name ('<block end>') or a single (escaped) character."""


try:  # libyaml's parser is about six times faster; composing stays in Python, where it is bounded
    from yaml._yaml import CParser as _Parser  # where yaml.cyaml gets it from, without re-exporting it
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting what it composes and what aliases add, and refusing past the bounds.

    An alias returns the node it names (shared, not copied), so a bomb costs nothing here; it
    explodes later, in whatever walks the result. So each alias is charged the size of the tree
    it stands for, measured once per node, and aliases to a node that contains them are refused.
    """

    def __init__(self) -> None:
        super().__init__()
        self._nodes = 0
        self._alias_nodes = 0
        self._depth = 0
        self._open_anchors: list[str] = []
        self._measured: dict[int, tuple[int, int]] = {}

    if TYPE_CHECKING:  # supplied by the parser that `_BoundedLoader` mixes in beside this class

        def peek_event(self) -> Event | None: ...

    def compose_document(self) -> Node | None:
        self._measured = {}  # node ids are only unique while the document lives
        return super().compose_document()

    # `index` is None, a list position or a mapping's key node, as PyYAML passes it (its stub says int).
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._charge_alias(event)
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _refused(f"more than {MAX_NODES} nodes", event)
        if self._depth >= MAX_DEPTH:
            raise _refused(f"nested deeper than {MAX_DEPTH} levels", event)
        self._depth += 1
        anchor = event.anchor if isinstance(event, NodeEvent) else None  # a node always starts with a NodeEvent
        if anchor is not None:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.pop()

    def _charge_alias(self, event: AliasEvent) -> None:
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        if event.anchor in self._open_anchors:
            raise _refused("an alias refers to a node that contains it", event)
        size, height = self._measure(target)
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise _refused(f"aliases expand to more than {MAX_ALIAS_NODES} nodes", event)
        if self._depth + height > MAX_DEPTH:
            raise _refused(f"nested deeper than {MAX_DEPTH} levels", event)

    def _measure(self, node: Node) -> tuple[int, int]:
        """Nodes in the tree under `node` with aliases expanded, and its height (recursion <= MAX_DEPTH)."""
        known = self._measured.get(id(node))
        if known is not None:
            return known
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        size, height = 1, 0
        for child in children:
            child_size, child_height = self._measure(child)
            size += child_size
            height = max(height, child_height)
        self._measured[id(node)] = result = (size, height + 1)
        return result


class _BoundedLoader(_BoundedComposer, _Parser, SafeConstructor, Resolver):
    """SafeLoader's parts around the bounded composer."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # int() of 5000 digits, 30 February, and the like
            problem = f"cannot read this value ({type(exc).__name__})"
            raise ConstructorError(None, None, problem, node.start_mark) from None


def _refused(problem: str, event: Event | None) -> YamlLimitError:
    mark = event.start_mark if event is not None else None
    # The stub wants yaml.error.Mark; libyaml's own Mark is what PyYAML itself puts in its errors.
    return YamlLimitError(problem=problem, problem_mark=mark)  # type: ignore[arg-type]
