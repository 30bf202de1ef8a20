"""Hardened streaming XML reader for untrusted SVG.

Builds a small element tree with expat's push parser (no recursion, no DOM), enforcing the
limits while it streams, so a 300,000-element or 5,000-deep file stops at the first element over
the limit. Security policy:

- The DOCTYPE follows `_dtd.DtdPolicy`: internal general entities with literal values are
  expanded under limits decided before the first element; external entities and DTDs (other
  than the W3C SVG DTDs, never loaded), parameter entities, notations and unparsed entities are
  refused.
- Parameter-entity parsing is off and no external-entity handler loads anything, so nothing
  outside the given bytes is ever read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from flexiclip_core.errors import SvgLimitExceeded, SvgParseError
from flexiclip_core.svg._dtd import DtdPolicy

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_EXPAT_ENCODINGS = {"utf-8", "utf8", "utf-16", "utf16", "iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"}
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


@dataclass(eq=False)
class Element:
    """One XML element: local tag name, attributes by SVG name, children in document order."""

    tag: str
    """Local name; elements outside the SVG namespace keep a ``{namespace}`` prefix."""
    attrs: dict[str, str]
    """Attributes without namespace by local name; ``xlink:href`` as ``xlink:href``."""
    ordinal: int
    """1-based position in document order, used to name elements without an id."""
    children: list[Element] = field(default_factory=list)
    text: str = ""
    """Character data directly inside (kept only for <style>)."""

    @property
    def is_svg(self) -> bool:
        return not self.tag.startswith("{")

    def describe(self) -> str:
        element_id = self.attrs.get("id")
        name = self.tag if self.is_svg else self.tag.split("}")[-1]
        if element_id:
            return f'<{name} id="{element_id[:64]}">'
        return f"<{name} #{self.ordinal}>"


def _decode_foreign_encoding(data: bytes) -> bytes:
    """Re-encode documents whose declared encoding expat lacks (e.g. windows-1252) as UTF-8."""
    match = _XML_DECL.match(data)
    if not match:
        return data
    encoding = match.group(1).decode("ascii").lower()
    if encoding in _EXPAT_ENCODINGS:
        return data
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise SvgParseError(f"cannot decode declared encoding {encoding!r}: {exc}") from None
    text = re.sub(r"encoding\s*=\s*[\"'][A-Za-z0-9._-]+[\"']", 'encoding="utf-8"', text, count=1)
    return text.encode("utf-8")


def read_source(source: str | os.PathLike | bytes, clip: str | None, max_bytes: int) -> tuple[bytes, str]:
    """(the file's bytes, the clip name); a file over ``max_bytes`` is refused before it is read."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = clip or "<bytes>"
    else:
        path = Path(source)
        name = clip or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SvgParseError(f"cannot read file: {exc.strerror}", clip=name) from None
        if size > max_bytes:
            raise SvgLimitExceeded(f"file is {size} bytes, over max_bytes={max_bytes}", limit="max_bytes", clip=name)
        try:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise SvgParseError(f"cannot read file: {exc.strerror}", clip=name) from None
    if len(data) > max_bytes:
        raise SvgLimitExceeded(f"SVG is {len(data)} bytes, over max_bytes={max_bytes}", limit="max_bytes", clip=name)
    return data, name


def parse_xml(
    data: bytes,
    *,
    clip: str,
    max_elements: int,
    max_depth: int,
    max_entities: int = 256,
    max_entity_depth: int = 3,
    max_entity_expansion: int = 1_000_000,
    warnings: list[tuple[str, str, str]] | None = None,
) -> Element:
    """The root <svg> element of ``data``; raises on malformed XML, refused DTD constructs and
    exceeded limits. DOCTYPE warnings (code, message, where) are appended to ``warnings``."""
    if not data.strip():
        raise SvgParseError("empty file", clip=clip)
    data = _decode_foreign_encoding(data)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    dtd = DtdPolicy(data, clip, max_entities, max_entity_depth, max_entity_expansion)
    dtd.install(parser)
    stack: list[Element] = []
    root: list[Element] = []
    counter = [0]

    def start(name: str, attributes: dict[str, str]) -> None:
        counter[0] += 1
        if counter[0] > max_elements:
            raise SvgLimitExceeded(f"more than max_elements={max_elements} elements", limit="max_elements", clip=clip)
        if len(stack) >= max_depth:
            raise SvgLimitExceeded(f"nesting deeper than max_depth={max_depth}", limit="max_depth", clip=clip)
        namespace, _, local = name.rpartition(" ")
        tag = local if namespace in ("", SVG_NS) else "{" + namespace + "}" + local
        attrs: dict[str, str] = {}
        for key, value in attributes.items():
            attr_ns, _, attr_local = key.rpartition(" ")
            if not attr_ns:
                attrs[attr_local] = value
            elif attr_ns == XLINK_NS:
                attrs["xlink:" + attr_local] = value
            elif attr_ns == XML_NS:
                attrs["xml:" + attr_local] = value
        if dtd.fixed:
            for key, value in dtd.fixed_attributes(local).items():
                attrs.setdefault(key, value)
        element = Element(tag, attrs, counter[0])
        if stack:
            stack[-1].children.append(element)
        else:
            if tag != "svg":
                raise SvgParseError(f"root element is <{local}>, not <svg>", clip=clip)
            root.append(element)
        stack.append(element)

    def end(name: str) -> None:
        stack.pop()

    def characters(text: str) -> None:
        if stack and stack[-1].tag == "style":
            stack[-1].text += text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.errors.messages[exc.code] if exc.code is not None else str(exc)
        raise SvgParseError(
            f"not well-formed XML ({reason}) at line {exc.lineno}, column {exc.offset}", clip=clip
        ) from None
    except RecursionError:  # pragma: no cover - expat is iterative; kept as a last guard
        raise SvgLimitExceeded("nesting too deep", limit="max_depth", clip=clip) from None
    if not root:
        raise SvgParseError("no <svg> root element", clip=clip)
    if warnings is not None:
        warnings.extend(dtd.warnings)
    return root[0]
