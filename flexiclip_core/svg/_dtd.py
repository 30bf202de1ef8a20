"""The DOCTYPE of untrusted SVG: internal general entities accepted under limits, the rest refused.

Illustrator writes an internal subset into every SVG it exports (``<!ENTITY ns_svg
"http://www.w3.org/2000/svg">`` and a dozen more, used as attribute values); old Sodipodi and
Illustrator files declare ``xmlns:xlink`` with ``<!ATTLIST>``. What an internal subset can do to a
reader is XXE (external entities, external DTDs, parameter entities) and expansion bombs (billion
laughs, quadratic blow-up). The policy, enforced by expat handlers while the DOCTYPE streams, so
that everything is decided before the first element is read:

- accepted: ``<!ENTITY name "literal">`` general entities, their references in attribute values
  and text (expat expands them), at most ``max_entities`` of them, each nesting references at
  most ``max_entity_depth`` deep;
- the total text all references in the file can expand to is bounded before any is expanded:
  every ``&name;`` occurrence in the file (a superset of the references expat will expand:
  those in comments are counted too) times that entity's full expansion, at most
  ``max_entity_expansion`` characters;
- refused (`SvgSecurityError`, one line naming the declaration): external entities
  (``SYSTEM``/``PUBLIC``), unparsed entities and notations, parameter entities and parameter
  entity references, and any external DTD other than the W3C SVG DTDs (which are never fetched);
- ``<!ATTLIST>``: namespace declarations (``xmlns``, ``xmlns:*``) are applied by expat's
  namespace processing and ``#FIXED`` values by `fixed_attributes`; other defaults and
  ``<!ELEMENT>`` declarations are ignored with a ``dtd-declaration-ignored`` warning.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from flexiclip_core.errors import SvgLimitExceeded, SvgSecurityError

W3C_SVG_DTDS = (
    "http://www.w3.org/Graphics/SVG/",
    "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/",
    "http://www.w3.org/TR/2000/CR-SVG-20001102/DTD/",
    "http://www.w3.org/TR/2000/03/WD-SVG-20000303/",
)
"""System identifiers of the W3C SVG DTDs editors write; tolerated, never fetched."""

_REFERENCE = re.compile(r"&([^\s&;#]+);")
_LATIN_1_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"'](?i:iso-8859-1|latin-?1)[\"']")
for _codec in ("utf-16-le", "utf-16-be", "latin-1"):
    codecs.lookup(_codec)  # imported now, so that reading a file never opens a codec module
_PREDEFINED = frozenset({"lt", "gt", "amp", "apos", "quot"})


@dataclass
class DtdPolicy:
    """Installs the DOCTYPE handlers on one expat parser and keeps what the DTD declared."""

    data: bytes
    clip: str
    max_entities: int
    max_entity_depth: int
    max_entity_expansion: int
    entities: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, dict[str, str]] = field(default_factory=dict)
    """``#FIXED`` attribute values by element local name, keyed as `Element.attrs` is."""
    warnings: list[tuple[str, str, str]] = field(default_factory=list)
    """(code, message, where) for the walker's warning log."""

    def install(self, parser: expat.XMLParserType) -> None:
        self._parser = parser
        parser.StartDoctypeDeclHandler = self._start_doctype
        parser.EndDoctypeDeclHandler = self._end_doctype
        parser.EntityDeclHandler = self._entity
        parser.UnparsedEntityDeclHandler = self._unparsed_entity
        parser.NotationDeclHandler = self._notation
        parser.ElementDeclHandler = self._element
        parser.AttlistDeclHandler = self._attlist
        parser.ExternalEntityRefHandler = self._external_reference
        parser.SkippedEntityHandler = self._skipped
        # Only the specified attributes are reported: defaults are applied by this policy.
        parser.specified_attributes = True

    def _refuse(self, what: str) -> NoReturn:
        raise SvgSecurityError(f"{what} refused in the DOCTYPE of untrusted SVG", clip=self.clip)

    def _start_doctype(self, name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
        if system_id and not system_id.startswith(W3C_SVG_DTDS):
            self._refuse(f"external DTD {system_id[:80]!r}")
        if internal:
            # Tokens of the internal subset that no declaration handler takes come here; a
            # parameter-entity reference is one of them.
            self._parser.DefaultHandlerExpand = self._unhandled_markup

    def _unhandled_markup(self, text: str) -> None:
        if text.startswith("%"):
            self._refuse(f"parameter entity reference {text[:80]!r}")

    def _entity(
        self,
        name: str,
        is_parameter: int,
        value: str | None,
        base: str | None,
        system_id: str | None,
        public_id: str | None,
        notation: str | None,
    ) -> None:
        if is_parameter:
            self._refuse(f"parameter entity {name!r}")
        if value is None:
            source = f"SYSTEM {system_id!r}" if public_id is None else f"PUBLIC {public_id!r}"
            self._refuse(f"external entity {name!r} ({source[:100]})")
        if name in self.entities:
            return  # XML: the first declaration binds
        if len(self.entities) >= self.max_entities:
            raise SvgLimitExceeded(
                f"more than max_entities={self.max_entities} entity declarations",
                limit="max_entities",
                clip=self.clip,
            )
        self.entities[name] = value

    def _unparsed_entity(self, name: str, *args: object) -> None:
        self._refuse(f"unparsed entity {name!r}")

    def _notation(self, name: str, *args: object) -> None:
        self._refuse(f"notation {name!r}")

    def _element(self, name: str, model: object) -> None:
        self.warnings.append(("dtd-declaration-ignored", "element declaration ignored", f"<!ELEMENT {name[:40]}>"))

    def _attlist(self, element: str, attribute: str, kind: str, default: str | None, required: int) -> None:
        if attribute == "xmlns" or attribute.startswith("xmlns:"):
            return  # bound by expat's namespace processing
        key = _attribute_key(attribute)
        if default is not None and required and key is not None:
            self.fixed.setdefault(element.rpartition(":")[2], {}).setdefault(key, default)
            return
        if default is not None:
            self.warnings.append(
                (
                    "dtd-declaration-ignored",
                    f"default {default[:40]!r} ignored (only namespace and #FIXED values are applied)",
                    f"<!ATTLIST {element[:40]} {attribute[:40]}>",
                )
            )

    def _external_reference(self, context: str, base: str | None, system_id: str | None, public_id: str | None) -> int:
        self._refuse(f"external entity reference {system_id!r}")
        return 0

    def _skipped(self, name: str, is_parameter: int) -> None:
        # An undeclared entity in a file whose external DTD is not read: nothing is inserted.
        self.warnings.append(("entity-skipped", "undeclared entity left out", f"&{name[:40]};"))

    def _end_doctype(self) -> None:
        self._parser.DefaultHandlerExpand = None
        if not self.entities:
            return
        expanded = self._expanded_lengths()
        text = _document_text(self.data)
        total = 0
        for name, length in expanded.items():
            total += text.count(f"&{name};") * length
            if total > self.max_entity_expansion:
                raise SvgLimitExceeded(
                    f"entity references expand to more than max_entity_expansion={self.max_entity_expansion} "
                    f"characters (by &{name[:40]};)",
                    limit="max_entity_expansion",
                    clip=self.clip,
                )

    def _expanded_lengths(self) -> dict[str, int]:
        """Each entity's fully expanded length. References nested deeper than
        ``max_entity_depth`` and reference cycles are refused."""
        lengths: dict[str, int] = {}
        nesting: dict[str, int] = {}
        open_names: set[str] = set()

        def expand(name: str) -> None:
            if name in lengths:
                return
            if name in open_names:
                self._refuse(f"recursive entity reference &{name[:40]};")
            open_names.add(name)
            value = self.entities[name]
            total, depth = len(value), 0
            for match in _REFERENCE.finditer(value):
                inner = match.group(1)
                if inner not in self.entities:
                    continue
                expand(inner)
                total += lengths[inner] - len(match.group(0))
                depth = max(depth, nesting[inner] + 1)
            if depth > self.max_entity_depth:
                self._refuse(f"entity &{name[:40]}; nesting references {depth} deep (over {self.max_entity_depth})")
            if total > self.max_entity_expansion:
                raise SvgLimitExceeded(
                    f"entity &{name[:40]}; expands to more than "
                    f"max_entity_expansion={self.max_entity_expansion} characters",
                    limit="max_entity_expansion",
                    clip=self.clip,
                )
            open_names.discard(name)
            lengths[name], nesting[name] = total, depth

        for name in self.entities:
            if name not in _PREDEFINED:
                expand(name)
        return lengths

    def fixed_attributes(self, local_name: str) -> dict[str, str]:
        """The ``#FIXED`` attributes the DTD gives elements of this local name."""
        return self.fixed.get(local_name, {})


def _attribute_key(qualified: str) -> str | None:
    """The `Element.attrs` key of an attribute named in an ATTLIST; None for foreign prefixes."""
    prefix, _, local = qualified.rpartition(":")
    if not prefix:
        return local
    if prefix in ("xlink", "xml"):
        return f"{prefix}:{local}"
    return None


def _document_text(data: bytes) -> str:
    """The file as text, decoded far enough that ASCII markup such as ``&name;`` can be counted."""
    if data.startswith((b"\xff\xfe", b"<\x00")):
        return data.decode("utf-16-le", errors="replace")
    if data.startswith((b"\xfe\xff", b"\x00<")):
        return data.decode("utf-16-be", errors="replace")
    declared = _LATIN_1_DECL.match(data)
    return data.decode("latin-1" if declared else "utf-8", errors="replace")
