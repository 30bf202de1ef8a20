"""CSS style sheets for the SVG reader: rules and the selectors that pick their elements.

Supported (Selectors level 3): type and universal selectors, ``.class``, ``#id``, attribute
selectors (``[a]``, ``=``, ``~=``, ``|=``, ``^=``, ``$=``, ``*=``), ``:first-child``, compounds of
these, the combinators descendant (`` ``), child (``>``), next-sibling (``+``) and
subsequent-sibling (``~``), and comma lists. Specificity is (ids, classes + attributes +
pseudo-classes, types), summed over the compounds; equal specificity goes to the later rule.
Anything else (other pseudo-classes, pseudo-elements, namespaces, at-rules) is returned as
unsupported, for the caller to warn naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flexiclip_core.svg._style import COMMENT_RE, parse_declarations
from flexiclip_core.svg._xml import Element

_IDENT = r"-?[_A-Za-z\u00a0-\uffff][\w\u00a0-\uffff-]*"
_TAG_RE = re.compile(r"\*|" + _IDENT)
_CLASS_OR_ID_RE = re.compile(r"([.#])(" + r"[\w\u00a0-\uffff-]+" + r")")
_ATTRIBUTE_RE = re.compile(r"""\[\s*([\w:-]+)\s*(?:([~|^$*]?=)\s*(?:"([^"]*)"|'([^']*)'|([\w-]+))\s*)?\]""")
_PSEUDO_CLASSES = frozenset({"first-child"})
COMBINATORS = (" ", ">", "+", "~")


class UnsupportedSelector(ValueError):
    """A selector this reader does not match (the caller warns and ignores the rule)."""


@dataclass(frozen=True)
class Compound:
    """A compound selector: optional type, then ids, classes, attribute tests and pseudo-classes,
    all of which one element must match."""

    tag: str | None = None
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str, str], ...] = ()
    """(name, operator, value) of ``[name]`` / ``[name op "value"]`` parts; operator "" tests
    presence only."""
    pseudo_classes: tuple[str, ...] = ()

    @property
    def specificity(self) -> tuple[int, int, int]:
        middle = len(self.classes) + len(self.attributes) + len(self.pseudo_classes)
        return (len(self.ids), middle, 1 if self.tag else 0)

    def matches(self, element: Element, tree: DocumentTree) -> bool:
        if self.tag and self.tag != element.tag:
            return False
        attrs = element.attrs
        if any(i != attrs.get("id") for i in self.ids):
            return False
        if self.classes:
            classes = attrs.get("class", "").split()
            if not all(c in classes for c in self.classes):
                return False
        if not all(_attribute_matches(attrs.get(name), op, value) for name, op, value in self.attributes):
            return False
        # The only pseudo-class parsed is :first-child.
        return all(tree.previous_sibling(element) is None for _ in self.pseudo_classes)


@dataclass(frozen=True)
class Selector:
    """A complex selector: compounds joined by combinators, matched right to left."""

    compounds: tuple[Compound, ...]
    """Left to right; the last one is the subject."""
    combinators: tuple[str, ...] = ()
    """``combinators[i]`` joins ``compounds[i]`` and ``compounds[i + 1]``: one of `COMBINATORS`."""

    @property
    def specificity(self) -> tuple[int, int, int]:
        parts = [compound.specificity for compound in self.compounds]
        return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))

    def matches(self, element: Element, tree: DocumentTree) -> bool:
        return self._matches_from(len(self.compounds) - 1, element, tree)

    def _matches_from(self, index: int, element: Element, tree: DocumentTree) -> bool:
        if not self.compounds[index].matches(element, tree):
            return False
        if index == 0:
            return True
        combinator = self.combinators[index - 1]
        # Backtracking over candidates keeps "a b > c" correct; documents are small enough.
        if combinator == ">":
            parent = tree.parent(element)
            return parent is not None and self._matches_from(index - 1, parent, tree)
        if combinator == " ":
            ancestor = tree.parent(element)
            while ancestor is not None:
                if self._matches_from(index - 1, ancestor, tree):
                    return True
                ancestor = tree.parent(ancestor)
            return False
        if combinator == "+":
            sibling = tree.previous_sibling(element)
            return sibling is not None and self._matches_from(index - 1, sibling, tree)
        sibling = tree.previous_sibling(element)
        while sibling is not None:
            if self._matches_from(index - 1, sibling, tree):
                return True
            sibling = tree.previous_sibling(sibling)
        return False


class DocumentTree:
    """Parents and preceding siblings of the document's elements (the XML tree has neither).

    ``<use>`` instances are matched in the original tree, as SVG 2 specifies."""

    def __init__(self, root: Element) -> None:
        self._parent: dict[int, Element] = {}
        self._previous: dict[int, Element] = {}
        stack = [root]
        while stack:
            element = stack.pop()
            previous: Element | None = None
            for child in element.children:
                self._parent[id(child)] = element
                if previous is not None:
                    self._previous[id(child)] = previous
                previous = child
            stack.extend(element.children)

    def parent(self, element: Element) -> Element | None:
        return self._parent.get(id(element))

    def previous_sibling(self, element: Element) -> Element | None:
        return self._previous.get(id(element))


def _attribute_matches(actual: str | None, operator: str, expected: str) -> bool:
    """CSS attribute selector test (Selectors 3 §6.3)."""
    if actual is None:
        return False
    if operator == "":
        return True
    if operator == "=":
        return actual == expected
    if operator == "~=":
        return expected in actual.split()
    if operator == "|=":
        return actual == expected or actual.startswith(expected + "-")
    if not expected:
        return False  # ^=, $=, *= with an empty value match nothing
    if operator == "^=":
        return actual.startswith(expected)
    if operator == "$=":
        return actual.endswith(expected)
    return expected in actual  # *=


def _parse_compound(text: str, position: int) -> tuple[Compound, int]:
    """The compound selector starting at ``position`` and the index just past it."""
    tag: str | None = None
    ids: list[str] = []
    classes: list[str] = []
    attributes: list[tuple[str, str, str]] = []
    pseudo: list[str] = []
    match = _TAG_RE.match(text, position)
    if match:
        tag = None if match.group() == "*" else match.group()
        position = match.end()
    start = position
    while position < len(text) and text[position] not in " \t\r\n>+~":
        char = text[position]
        if char in ".#":
            part = _CLASS_OR_ID_RE.match(text, position)
            if not part:
                raise UnsupportedSelector(text)
            (classes if char == "." else ids).append(part.group(2))
            position = part.end()
        elif char == "[":
            part = _ATTRIBUTE_RE.match(text, position)
            if not part:
                raise UnsupportedSelector(text)
            value = next((g for g in part.group(3, 4, 5) if g is not None), "")
            attributes.append((part.group(1), part.group(2) or "", value))
            position = part.end()
        elif char == ":":
            name = re.match(r":([\w-]+)(?![\w(-])", text[position:])
            if not name or name.group(1).lower() not in _PSEUDO_CLASSES:
                raise UnsupportedSelector(text)
            pseudo.append(name.group(1).lower())
            position += name.end()
        else:
            raise UnsupportedSelector(text)
    if not match and position == start:
        raise UnsupportedSelector(text)
    return Compound(tag, tuple(ids), tuple(classes), tuple(attributes), tuple(pseudo)), position


def parse_selector(text: str) -> Selector:
    """One complex selector (no commas); `UnsupportedSelector` when it uses anything else."""
    text = text.strip()
    if not text:
        raise UnsupportedSelector(text)
    compounds: list[Compound] = []
    combinators: list[str] = []
    position = 0
    while True:
        compound, position = _parse_compound(text, position)
        compounds.append(compound)
        gap = re.match(r"\s*([>+~])?\s*", text[position:])
        assert gap is not None  # the pattern matches the empty string
        if position + gap.end() >= len(text):
            if gap.group(1):
                raise UnsupportedSelector(text)  # a dangling combinator
            break
        combinators.append(gap.group(1) or " ")
        position += gap.end()
    return Selector(tuple(compounds), tuple(combinators))


def _split_selector_list(prelude: str) -> list[str]:
    """Split a selector list at top-level commas (not those inside ``[...]`` or quotes)."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in prelude:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class CssRule:
    selector: Selector
    declarations: dict[str, str]
    order: int
    """Position among all the document's rules (later wins at equal specificity)."""
    important: dict[str, str] = field(default_factory=dict)
    """The rule's ``!important`` declarations."""


def parse_stylesheet(text: str, first_order: int = 0) -> tuple[list[CssRule], list[str]]:
    """Rules with supported selectors (numbered from ``first_order`` in document order), and the
    unsupported selectors/at-rules found (ignored)."""
    rules: list[CssRule] = []
    unsupported: list[str] = []
    text = COMMENT_RE.sub("", text).replace("<!--", "").replace("-->", "")
    position = 0
    while True:
        open_brace = text.find("{", position)
        semicolon = text.find(";", position)
        if text[position:].lstrip().startswith("@") and semicolon >= 0 and (open_brace < 0 or semicolon < open_brace):
            # A block-less at-statement such as @import url(...); or @charset "utf-8";
            unsupported.append(text[position:semicolon].strip()[:80])
            position = semicolon + 1
            continue
        if open_brace < 0:
            break
        prelude = text[position:open_brace].strip()
        depth = 1
        cursor = open_brace + 1
        while cursor < len(text) and depth:
            if text[cursor] == "{":
                depth += 1
            elif text[cursor] == "}":
                depth -= 1
            cursor += 1
        body = text[open_brace + 1 : cursor - 1]
        position = cursor
        if prelude.startswith("@"):
            unsupported.append(prelude[:80])
            continue
        declarations = parse_declarations(body)
        important = parse_declarations(body, important=True)
        for part in _split_selector_list(prelude):
            part = part.strip()
            try:
                selector = parse_selector(part)
            except UnsupportedSelector:
                unsupported.append(part)
                continue
            rules.append(CssRule(selector, declarations, first_order + len(rules), important))
    return rules, unsupported
