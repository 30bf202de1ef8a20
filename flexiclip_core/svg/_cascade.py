"""Styles and attribute values of SVG elements: the CSS cascade and inheritance, and the
numbers, lengths and transforms elements carry, each invalid value warned and defaulted."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from flexiclip_core.errors import SvgParseError
from flexiclip_core.svg._selectors import CssRule, DocumentTree, parse_stylesheet
from flexiclip_core.svg._style import (
    IDENTITY,
    NUMBER,
    Affine,
    InvalidValue,
    LengthContext,
    multiply,
    parse_declarations,
    parse_length,
    parse_transform,
)
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import Element

INHERITED_PROPERTIES = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "clip-rule",
        "stroke",
        "stroke-width",
        "stroke-opacity",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-dasharray",
        "stroke-dashoffset",
        "visibility",
        "color",
        "font-size",
        "marker-start",
        "marker-mid",
        "marker-end",
    }
)
NON_INHERITED_PROPERTIES = frozenset(
    {
        "opacity",
        "display",
        "clip-path",
        "mask",
        "filter",
        "stop-color",
        "stop-opacity",
        "transform",
        "transform-origin",
        "overflow",
    }
)
_CSS_ANGLE_OR_LENGTH_RE = re.compile(r"(" + NUMBER + r")(deg|grad|rad|turn|px)\b", re.IGNORECASE)
_CSS_AXIS_FUNCTION_RE = re.compile(r"\b(translate|scale)([XY])\s*\(([^)]*)\)")
_ANGLE_TO_DEGREES = {"deg": 1.0, "grad": 0.9, "rad": 180.0 / math.pi, "turn": 360.0, "px": 1.0}
_ORIGIN_KEYWORDS = {"left": ("x", "0%"), "right": ("x", "100%"), "top": ("y", "0%"), "bottom": ("y", "100%")}


def css_transform_as_svg(text: str) -> str:
    """A CSS ``transform`` value in SVG transform syntax: units dropped (angles to degrees, px to
    user units), translateX/Y and scaleX/Y spelled out; SVG syntax passes through unchanged."""

    def unit(match: re.Match[str]) -> str:
        return repr(float(match.group(1)) * _ANGLE_TO_DEGREES[match.group(2).lower()])

    def axis(match: re.Match[str]) -> str:
        name, which, argument = match.group(1), match.group(2), match.group(3).strip()
        other = "0" if name == "translate" else "1"
        return f"{name}({argument} {other})" if which == "X" else f"{name}({other} {argument})"

    return _CSS_AXIS_FUNCTION_RE.sub(axis, _CSS_ANGLE_OR_LENGTH_RE.sub(unit, text))


PROPERTIES = INHERITED_PROPERTIES | NON_INHERITED_PROPERTIES
INITIAL_STYLE: dict[str, str] = {
    "fill": "black",
    "fill-opacity": "1",
    "fill-rule": "nonzero",
    "clip-rule": "nonzero",
    "stroke": "none",
    "stroke-width": "1",
    "stroke-opacity": "1",
    "stroke-linecap": "butt",
    "stroke-linejoin": "miter",
    "stroke-miterlimit": "4",
    "stroke-dasharray": "none",
    "stroke-dashoffset": "0",
    "visibility": "visible",
    "color": "black",
    "font-size": "16px",
    "marker-start": "none",
    "marker-mid": "none",
    "marker-end": "none",
}
_MARKER_PROPERTIES = ("marker-start", "marker-mid", "marker-end")


@dataclass(frozen=True)
class Context:
    """What an element inherits from its ancestors."""

    ctm: Affine
    """Element user units → root viewport units."""
    style: dict[str, str]
    """Computed inherited properties."""
    opacity: float
    """Product of ancestors' `opacity`."""
    groups: tuple[str, ...]
    lengths: LengthContext
    depth: int
    active_references: frozenset[int] = field(default_factory=frozenset)
    """ids (Python ``id``) of elements being instantiated by enclosing <use>s, against cycles."""
    context_paint: dict[str, str] | None = None
    """``fill`` and ``stroke`` values of the context element (the nearest enclosing ``<use>``)
    that ``context-fill``/``context-stroke`` take; None outside any."""
    context_style: dict[str, str] | None = None
    """The context element's computed style, against which its paint values resolve."""


def initial_context(ctm: Affine, lengths: LengthContext) -> Context:
    """The context of the root element's parent: initial style, full opacity, no groups."""
    return Context(ctm, dict(INITIAL_STYLE), 1.0, (), lengths, 0)


def clamp_unit(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _subject_key(rule: CssRule) -> tuple[str, str]:
    """One (kind, name) the element matched by ``rule`` must have: its id, a class, its tag."""
    subject = rule.selector.compounds[-1]
    if subject.ids:
        return ("id", subject.ids[0])
    if subject.classes:
        return ("class", subject.classes[0])
    if subject.tag:
        return ("tag", subject.tag)
    return ("*", "")


def _collect_stylesheets(root: Element) -> list[Element]:
    sheets = []
    stack = [root]
    while stack:
        element = stack.pop()
        if element.tag == "style":
            sheets.append(element)
        stack.extend(reversed(element.children))
    return sheets


class Cascade:
    """The document's style sheets and the values of one element's properties and attributes."""

    def __init__(self, root: Element, log: WarningLog) -> None:
        self.clip = log.clip
        self.log = log
        self.css_rules: list[CssRule] = []
        for sheet in _collect_stylesheets(root):
            if sheet.attrs.get("type", "text/css").strip().lower() not in ("text/css", ""):
                log.warn("style-unsupported", f"stylesheet of type {sheet.attrs['type']!r} ignored", sheet)
                continue
            rules, unsupported = parse_stylesheet(sheet.text, len(self.css_rules))
            for selector in unsupported:
                if selector.lower().startswith("@import"):
                    log.warn("external-href", f"stylesheet import {selector[:80]!r} ignored, nothing fetched", sheet)
                else:
                    log.warn("css-selector-unsupported", f"CSS selector or rule {selector[:60]!r} ignored", sheet)
            self.css_rules.extend(rules)
        self.css_rules.sort(key=lambda rule: (rule.selector.specificity, rule.order))
        self.tree = DocumentTree(root) if self.css_rules else None
        # Rules indexed by one key their subject compound requires, so an element only tests
        # the rules that can match it (Illustrator files carry hundreds of class rules).
        self._rules_by_key: dict[tuple[str, str], list[tuple[int, CssRule]]] = {}
        for rank, rule in enumerate(self.css_rules):
            self._rules_by_key.setdefault(_subject_key(rule), []).append((rank, rule))

    def error(self, message: str, element: Element) -> SvgParseError:
        return SvgParseError(message, clip=self.clip, element=element.describe())

    def _candidate_rules(self, element: Element) -> list[CssRule]:
        """The rules whose subject key ``element`` has, in cascade order."""
        keys = [("*", ""), ("tag", element.tag)]
        keys.extend(("class", name) for name in set(element.attrs.get("class", "").split()))
        if "id" in element.attrs:
            keys.append(("id", element.attrs["id"]))
        ranked = [entry for key in keys for entry in self._rules_by_key.get(key, ())]
        return [rule for _, rule in sorted(ranked, key=lambda entry: entry[0])]

    # --- properties ---------------------------------------------------------------------------

    def specified_style(self, element: Element) -> dict[str, str]:
        """Presentation attributes < stylesheet rules (by specificity) < style attribute <
        ``!important`` stylesheet rules < ``!important`` in the style attribute (CSS cascade)."""
        specified = {name: value.strip() for name, value in element.attrs.items() if name in PROPERTIES}
        important: dict[str, str] = {}
        if self.tree is not None:
            for rule in self._candidate_rules(element):
                if rule.selector.matches(element, self.tree):
                    specified.update((k, v) for k, v in rule.declarations.items() if k in PROPERTIES)
                    important.update((k, v) for k, v in rule.important.items() if k in PROPERTIES)
        style_attribute = element.attrs.get("style")
        if style_attribute:
            for is_important, target in ((False, specified), (True, important)):
                declarations = parse_declarations(style_attribute, important=is_important)
                if "marker" in declarations:
                    for name in _MARKER_PROPERTIES:
                        declarations.setdefault(name, declarations["marker"])
                target.update((k, v) for k, v in declarations.items() if k in PROPERTIES)
        specified.update(important)
        if "marker" in element.attrs:
            for name in _MARKER_PROPERTIES:
                specified.setdefault(name, element.attrs["marker"])
        return specified

    def compute_style(self, element: Element, parent: Context) -> tuple[dict[str, str], dict[str, str]]:
        """(inherited computed properties, non-inherited specified properties) of ``element``."""
        specified = self.specified_style(element)
        style = dict(parent.style)
        own: dict[str, str] = {}
        for name, value in specified.items():
            if value == "inherit":
                if name in INHERITED_PROPERTIES:
                    continue
                value = parent.style.get(name, "")
            if name in INHERITED_PROPERTIES:
                style[name] = value
            else:
                own[name] = value
        if "font-size" in specified and specified["font-size"] != "inherit":
            try:
                parent_font = parent.lengths.font_size
                size = parse_length(
                    specified["font-size"],
                    LengthContext(parent_font * 100.0, parent_font * 100.0, parent_font),
                    "x",
                    clip=self.clip,
                    element=element.describe(),
                )
                style["font-size"] = f"{size}px"
            except InvalidValue:
                style["font-size"] = parent.style["font-size"]
        return style, own

    # --- values -------------------------------------------------------------------------------

    def number_property(self, value: str, default: float, element: Element, name: str) -> float:
        """A number or percentage (as a fraction); ``default`` with a warning when invalid."""
        text = value.strip()
        try:
            if text.endswith("%"):
                number = float(text[:-1]) / 100.0
            else:
                number = float(text)
        except ValueError:
            self.log.warn("invalid-attribute", f"{name}: invalid number {text[:40]!r}", element)
            return default
        if not math.isfinite(number):
            raise self.error(f"non-finite {name} {text[:40]!r}", element)
        return number

    def length(self, element: Element, name: str, context: LengthContext, axis: str, default: float = 0.0) -> float:
        """Length attribute ``name`` in user units; ``default`` when absent or invalid (warned)."""
        value = element.attrs.get(name)
        if value is None or not value.strip():
            return default
        try:
            return parse_length(value, context, axis, clip=self.clip, element=element.describe())
        except InvalidValue as exc:
            self.log.warn("invalid-attribute", f"{name}: {exc}", element)
            return default

    def transform_of(
        self, element: Element, own: dict[str, str] | None = None, lengths: LengthContext | None = None
    ) -> Affine:
        """The element's transform — the ``transform`` property of ``own`` (its non-inherited
        specified style: attribute, style sheet or ``style=``), else the attribute — about its
        ``transform-origin``; identity when absent or invalid (warned)."""
        value = own.get("transform") if own is not None else element.attrs.get("transform")
        if not value or not value.strip() or value.strip() == "none":
            return IDENTITY
        try:
            transform = parse_transform(css_transform_as_svg(value), clip=self.clip, element=element.describe())
        except InvalidValue as exc:
            self.log.warn("invalid-transform", f"{exc}; transform ignored", element)
            return IDENTITY
        origin = (own or {}).get("transform-origin", element.attrs.get("transform-origin", "")).strip()
        if origin and lengths is not None:
            x, y = self.transform_origin(origin, element, lengths)
            if x or y:
                transform = multiply(multiply((1.0, 0.0, 0.0, 1.0, x, y), transform), (1.0, 0.0, 0.0, 1.0, -x, -y))
        return transform

    def transform_origin(self, text: str, element: Element, lengths: LengthContext) -> tuple[float, float]:
        """``transform-origin`` in user units: keywords, lengths or percentages of the viewport
        (SVG's default reference box, ``view-box``); a third (z) value is ignored."""
        values: dict[str, str] = {}
        pending: list[str] = []
        for word in text.replace(",", " ").split()[:2]:
            if word in _ORIGIN_KEYWORDS:
                axis, percentage = _ORIGIN_KEYWORDS[word]
                values[axis] = percentage
            elif word == "center":
                pending.append("50%")
            else:
                pending.append(word)
        for axis in ("x", "y"):
            if axis not in values:
                values[axis] = pending.pop(0) if pending else "50%"
        try:
            return (
                parse_length(values["x"], lengths, "x", clip=self.clip, element=element.describe()),
                parse_length(values["y"], lengths, "y", clip=self.clip, element=element.describe()),
            )
        except InvalidValue as exc:
            self.log.warn("invalid-attribute", f"transform-origin: {exc}; ignored", element)
            return 0.0, 0.0
