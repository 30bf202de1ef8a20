"""Why was each refused corpus file refused? Classify the files `parse_svg` refuses with
`EmptyDrawingError` ("no visible shape") by what they hold, with resvg as the independent judge.

Issue 23 asks that only files with no drawable shape, or with a real hostile construct, are
refused. For each refused file this script decides which it is:

1. **Does resvg draw it?** The file is read with the parser's own hardened reader
   (`svg._xml.parse_xml`, same limits), written back out without its text, raster images and
   foreign elements (skipped by design, so only shapes can paint) and drawn by resvg at `WIDTH`
   px. Any pixel with alpha > 0 means resvg draws a shape we refused: ``we-fail-to-draw``, a bug.
2. **What the drawn tree holds.** The tree that is drawn is walked: the root's content, ``<use>``
   targets followed, never-drawn containers (``<defs>``, ``<symbol>`` where it stands, paint
   servers, ``<clipPath>``, ``<mask>``, metadata, foreign elements) skipped. With no shape
   element (``path``, ``rect``, ``circle``, ``ellipse``, ``line``, ``polyline``, ``polygon``) in
   it, the class says what is there instead: ``only-image`` (raster ``<image>``), ``only-text``
   (``<text>``/``<flowRoot>``), ``text-and-image``, ``only-definitions`` (gradients, patterns,
   symbols or shapes defined and never drawn: the corpus's gradient swatch files), or ``empty``
   (nothing at all, or only empty groups and dangling ``<use>``).
3. **Shapes that resvg does not draw: why.** The copy is drawn again with one thing undone at a
   time; the class names the one that makes a pixel appear (alone): ``hidden``
   (``display:none``/``visibility:hidden`` removed), ``transparent`` (``opacity``,
   ``fill-opacity``, ``stroke-opacity`` removed), ``unpainted`` (every shape given
   ``fill:#000``: fill and stroke are none, a zero-width stroke, or a paint server that resolves
   to nothing), ``clipped-away`` (``clip-path``/``mask`` removed). If several do alone, or only
   all of them together: ``several`` (the detail lists which), else ``zero-size`` (every shape has
   no area and no length: zero width/height/radius, empty or invalid path data) when resvg's
   ``--query-all`` places no shape of the tree at all, or ``off-page`` when it does.

Files refused with another error (SvgSecurityError, SvgLimitExceeded, SvgParseError) get the
class ``refused-<Error>``: those are read as hostile or broken, not judged here.

Usage::

    .venv/bin/python scripts/classify_refusals.py --sweep artifacts/corpus_sweep.json \
        [--json artifacts/corpus_refusals.json] [--markdown]
    .venv/bin/python scripts/classify_refusals.py FILE.svg ...

``--sweep`` reads the ``refused`` list of a `scripts/corpus_sweep.py` summary (the EmptyDrawingError
files); ``--log`` reads a sweep's progress lines instead. The JSON holds counts per class and, per
file, its class and detail. docs/render.md §14 holds the table for the openclipart corpus.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from flexiclip_core.svg._references import href_of, index_ids, local_reference  # noqa: E402
from flexiclip_core.svg._tags import NEVER_DRAWN_TAGS, SHAPE_TAGS, TEXT_TAGS  # noqa: E402
from flexiclip_core.svg._xml import Element  # noqa: E402

WIDTH = 512
"""Width in px of resvg's drawings of the page."""
RESVG_TIMEOUT_S = 60.0
"""Budget of one resvg call."""
CLASSES = (
    "only-image",
    "only-text",
    "text-and-image",
    "only-definitions",
    "empty",
    "hidden",
    "transparent",
    "unpainted",
    "clipped-away",
    "several",
    "zero-size",
    "off-page",
    "we-fail-to-draw",
)
"""Every class a file refused as an empty drawing can get, in the order of the docs' table."""
OUR_FAILURE = frozenset({"we-fail-to-draw"})
"""Classes that are a bug of ours, not a property of the file."""
UNDO: dict[str, tuple[str, ...]] = {
    "hidden": ("display", "visibility"),
    "transparent": ("opacity", "fill-opacity", "stroke-opacity"),
    "unpainted": ("fill",),
    "clipped-away": ("clip-path", "mask"),
}
"""Properties removed by each 'undo' of step 3 (``unpainted`` also sets ``fill:#000`` on shapes)."""
CORPUS_FOLDER = "/openclipart/usr/share/openclipart/svg/"
"""Where the corpus files lie below the cache; the JSON names files relative to it."""
_DROPPED_FROM_COPY = TEXT_TAGS | {"image", "foreignObject", "script"}


@dataclass
class Inventory:
    """What the drawn tree of one file holds."""

    shapes: int = 0
    """Shape elements reached (each ``<use>`` instance counted again)."""
    text: int = 0
    """``<text>``/``<flowRoot>`` elements reached."""
    images: int = 0
    """``<image>`` elements reached."""
    dangling_uses: int = 0
    """``<use>`` elements whose target is missing, not local, or a cycle."""
    definitions: int = 0
    """Elements anywhere in the file inside never-drawn containers (metadata and foreign
    elements aside): what a file of definitions defines."""
    tags: Counter[str] = field(default_factory=Counter)
    """Every element reached, by tag."""


def inventory(root: Element) -> Inventory:
    """The drawn tree's contents: the root's children, ``<use>`` targets followed once per use
    (cycles cut), never-drawn containers and foreign elements skipped."""
    ids = index_ids(root)
    found = Inventory()
    found.definitions = _definitions(root)
    stack: list[tuple[Element, frozenset[int]]] = [(root, frozenset())]
    while stack:
        element, uses = stack.pop()
        if not element.is_svg or (element is not root and element.tag in NEVER_DRAWN_TAGS):
            continue
        found.tags[element.tag] += 1
        if element.tag in SHAPE_TAGS:
            found.shapes += 1
        elif element.tag in TEXT_TAGS:
            found.text += 1
        elif element.tag == "image":
            found.images += 1
        elif element.tag == "use":
            target = ids.get(local_reference(href_of(element) or "") or "")
            if target is None or id(target) in uses:
                found.dangling_uses += 1
            else:
                stack.append((target if target.tag != "symbol" else _as_group(target), uses | {id(target)}))
            continue
        stack.extend((child, uses) for child in reversed(element.children))
    return found


def _definitions(root: Element) -> int:
    count = 0
    stack = [(child, False) for child in root.children]
    while stack:
        element, inside = stack.pop()
        if not element.is_svg or element.tag in {"metadata", "title", "desc", "style", "script"}:
            continue
        inside = inside or element.tag in NEVER_DRAWN_TAGS
        count += inside
        stack.extend((child, inside) for child in element.children)
    return count


def _as_group(symbol: Element) -> Element:
    """A ``<symbol>`` instantiated by ``<use>`` draws its children like a group."""
    return Element("g", {}, symbol.ordinal, symbol.children)


def _declarations(style: str) -> list[tuple[str, str]]:
    pairs = []
    for item in style.split(";"):
        name, colon, value = item.partition(":")
        if colon and name.strip():
            pairs.append((name.strip().lower(), value.strip()))
    return pairs


def _without(element: Element, names: frozenset[str]) -> dict[str, str]:
    attrs = {key: value for key, value in element.attrs.items() if key not in names}
    if "style" in attrs:
        kept = [f"{name}:{value}" for name, value in _declarations(attrs["style"]) if name not in names]
        attrs["style"] = ";".join(kept)
    return attrs


def serialise(root: Element, undo: frozenset[str] = frozenset(), *, tag_ids: bool = False) -> str:
    """The document as SVG text without its text, images and foreign elements, with the
    properties of the ``undo`` classes (`UNDO`) removed everywhere (attributes, ``style``
    attributes and style sheets); ``unpainted`` also fills every shape with black.
    ``tag_ids`` gives every element without an id one (``__e<ordinal>``) for ``--query-all``."""
    names = frozenset(name for key in undo for name in UNDO[key])
    alternatives = "|".join(map(re.escape, sorted(names)))
    sheet_property = re.compile(r"(?<![\w-])(" + alternatives + r")\s*:[^;}]*;?") if names else None
    out: list[str] = []

    def write(element: Element, is_root: bool) -> None:
        if not element.is_svg or element.tag in _DROPPED_FROM_COPY:
            return
        attrs = _without(element, names)
        if "unpainted" in undo and element.tag in SHAPE_TAGS:
            attrs["fill"] = "#000"
        if tag_ids and "id" not in attrs:
            attrs["id"] = f"__e{element.ordinal}"
        if is_root:
            attrs["xmlns"] = "http://www.w3.org/2000/svg"
            attrs["xmlns:xlink"] = "http://www.w3.org/1999/xlink"
        written = "".join(f" {key}={quoteattr(value)}" for key, value in attrs.items())
        out.append(f"<{element.tag}{written}>")
        if element.tag == "style":
            text = element.text if sheet_property is None else sheet_property.sub("", element.text)
            out.append(escape(text))
        for child in element.children:
            write(child, False)
        out.append(f"</{element.tag}>")

    write(root, True)
    return "".join(out)


def _resvg() -> str:
    beside = Path(sys.executable).parent / "resvg"
    return str(beside) if beside.exists() else "resvg"


def resvg_pixels(svg: str) -> int:
    """Pixels with alpha > 0 in resvg's drawing of ``svg`` at `WIDTH` px (-1: resvg refused it)."""
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "copy.svg", Path(folder) / "copy.png"
        source.write_text(svg)
        done = subprocess.run(
            [_resvg(), "--width", str(WIDTH), str(source), str(target)], capture_output=True, timeout=RESVG_TIMEOUT_S
        )
        if done.returncode != 0 or not target.exists():
            return -1
        return int((np.asarray(Image.open(target).convert("RGBA"))[..., 3] > 0).sum())


def resvg_placed_shapes(root: Element, svg: str) -> int:
    """Shape and ``<use>`` elements resvg's ``--query-all`` places anywhere (on the page or not)."""
    wanted = set()
    stack = [root]
    while stack:
        element = stack.pop()
        if element.tag in SHAPE_TAGS or element.tag == "use":
            wanted.add(element.attrs.get("id") or f"__e{element.ordinal}")
        stack.extend(element.children)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "copy.svg"
        source.write_text(svg)
        done = subprocess.run(
            [_resvg(), "--query-all", str(source)], capture_output=True, text=True, timeout=RESVG_TIMEOUT_S
        )
    placed = [line.split(",", 1)[0] for line in done.stdout.splitlines() if "," in line]
    return sum(1 for name in placed if name in wanted)


def classify_tree(root: Element) -> dict[str, Any]:
    """{class, detail} for one parsed tree (see the module docstring for the steps)."""
    found = inventory(root)
    detail: dict[str, Any] = {
        "shapes": found.shapes,
        "text": found.text,
        "images": found.images,
        "dangling_uses": found.dangling_uses,
        "definitions": found.definitions,
        "resvg_pixels": resvg_pixels(serialise(root)),
    }
    if detail["resvg_pixels"] != 0:
        return {"class": "we-fail-to-draw", "detail": detail}
    if found.shapes == 0:
        if found.images and found.text:
            return {"class": "text-and-image", "detail": detail}
        if found.images:
            return {"class": "only-image", "detail": detail}
        if found.text:
            return {"class": "only-text", "detail": detail}
        return {"class": "only-definitions" if found.definitions else "empty", "detail": detail}
    alone = [key for key in UNDO if resvg_pixels(serialise(root, frozenset({key}))) > 0]
    if alone:
        detail["undone"] = alone
        return {"class": alone[0] if len(alone) == 1 else "several", "detail": detail}
    everything = frozenset(UNDO)
    if resvg_pixels(serialise(root, everything)) > 0:
        detail["undone"] = sorted(everything)
        return {"class": "several", "detail": detail}
    placed = resvg_placed_shapes(root, serialise(root, everything, tag_ids=True))
    detail["placed_by_resvg"] = placed
    return {"class": "off-page" if placed else "zero-size", "detail": detail}


def classify_file(path: Path) -> dict[str, Any]:
    """{file, class, detail} for one file, read as `parse_svg` reads it."""
    from flexiclip_core.errors import EmptyDrawingError, FlexiclipError
    from flexiclip_core.svg import SvgLimits, parse_svg
    from flexiclip_core.svg._xml import parse_xml, read_source

    record: dict[str, Any] = {"file": str(path)}
    try:
        parse_svg(path)
    except EmptyDrawingError as exc:
        record["error"] = f"EmptyDrawingError: {exc.reason}"
    except FlexiclipError as exc:
        record.update({"class": f"refused-{type(exc).__name__}", "detail": {"reason": exc.reason}})
        return record
    else:
        record.update({"class": "parses", "detail": {}})
        return record
    limits = SvgLimits()
    data, clip = read_source(path, None, limits.max_bytes)
    root = parse_xml(
        data,
        clip=clip,
        max_elements=limits.max_elements,
        max_depth=limits.max_depth,
        max_entities=limits.max_entities,
        max_entity_depth=limits.max_entity_depth,
        max_entity_expansion=limits.max_entity_expansion,
    )
    record.update(classify_tree(root))
    return record


_LOG_LINE = re.compile(r"^\[\d+/\d+\] specific \S+ (?P<file>.+?\.svg) EmptyDrawingError: ")


def refused_files(sweep: Path | None, log: Path | None) -> list[str]:
    """The EmptyDrawingError files of a sweep summary's ``refused`` list or of its progress log."""
    if sweep is not None:
        summary = json.loads(sweep.read_text())
        root = Path(summary["root"])
        return [str(root / item["file"]) for item in summary["refused"] if item["error"] == "EmptyDrawingError"]
    assert log is not None
    return [match["file"] for line in log.read_text().splitlines() if (match := _LOG_LINE.match(line))]


def summarise(records: list[dict[str, Any]], root: Path | None) -> dict[str, Any]:
    """Counts per class (every class listed, in table order) and the records, files relative to
    ``root`` where they lie under it."""
    counts = Counter(record["class"] for record in records)
    order = list(CLASSES) + sorted(set(counts) - set(CLASSES))
    for record in records:
        if root is not None and record["file"].startswith(str(root) + "/"):
            record["file"] = record["file"][len(str(root)) + 1 :]
    return {
        "files": len(records),
        "counts": {name: counts.get(name, 0) for name in order},
        "our_failures": sum(counts.get(name, 0) for name in OUR_FAILURE),
        "records": sorted(records, key=lambda record: (order.index(record["class"]), record["file"])),
    }


def markdown(summary: dict[str, Any]) -> str:
    """The docs' table: one row per class with its count and its files."""
    lines = ["| class | files | which |", "|---|---|---|"]
    for name, count in summary["counts"].items():
        if count:
            files = [record["file"] for record in summary["records"] if record["class"] == name]
            lines.append(f"| `{name}` | {count} | {', '.join(files)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, help="SVG files to classify")
    parser.add_argument("--sweep", type=Path, default=None, help="a corpus_sweep.py JSON summary")
    parser.add_argument("--log", type=Path, default=None, help="a corpus_sweep.py progress log")
    parser.add_argument("--json", type=Path, default=None, help="where the JSON summary is written")
    parser.add_argument("--markdown", action="store_true", help="print the docs' table")
    args = parser.parse_args(argv)
    files = [str(path) for path in args.files]
    if args.sweep or args.log:
        files += refused_files(args.sweep, args.log)
    if not files:
        parser.error("no files: give SVG files, --sweep or --log")
    root = None
    if args.sweep is not None:
        root = Path(json.loads(args.sweep.read_text())["root"])
    elif files and all(CORPUS_FOLDER in name for name in files):
        root = Path(files[0].split(CORPUS_FOLDER)[0] + CORPUS_FOLDER.rstrip("/"))
    records = [classify_file(Path(name)) for name in files]
    summary = summarise(records, root)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    print(markdown(summary) if args.markdown else json.dumps(summary["counts"]))
    return 1 if summary["our_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
