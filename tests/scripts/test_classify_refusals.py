"""scripts/classify_refusals.py on hand-made trees, one per class: what the drawn tree holds,
whether resvg draws it, and which undo makes resvg draw it (docs/render.md §14)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from flexiclip_core.svg._xml import parse_xml
from tests.conftest import REPO_ROOT
from tests.flexiclip_core.svg.resvg import needs_resvg


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("classify_refusals", REPO_ROOT / "scripts" / "classify_refusals.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("classify_refusals", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script()


def tree(body: str):
    namespaces = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    svg = f'<svg {namespaces} viewBox="0 0 10 10">{body}</svg>'
    return parse_xml(svg.encode(), clip="case", max_elements=1000, max_depth=64)


SQUARE = 'x="1" y="1" width="8" height="8"'
CASES = {
    "only-image": '<g><image width="5" height="5" xlink:href="a.png"/></g><defs><rect id="r" width="1"/></defs>',
    "only-text": "<text>hello</text><flowRoot/>",
    "text-and-image": '<text>hello</text><image width="5" height="5" href="a.png"/>',
    "only-definitions": '<g/><linearGradient id="g"/><symbol id="s"><rect width="1" height="1"/></symbol>',
    "empty": '<metadata><rect width="1"/></metadata><g><g/></g><use xlink:href="#missing"/>',
    "hidden": f'<g style="display:none"><rect {SQUARE}/></g><rect {SQUARE} visibility="hidden"/>',
    "transparent": f'<rect {SQUARE} style="fill-opacity:0"/><rect {SQUARE} fill="red" opacity="0"/>',
    "unpainted": f'<style>rect {{ fill: none }}</style><rect {SQUARE} stroke="red" stroke-width="0"/>',
    "clipped-away": f'<clipPath id="c"/><rect {SQUARE} clip-path="url(#c)"/>',
    "several": f'<rect {SQUARE} style="display:none"/><rect {SQUARE} opacity="0"/>',
    "zero-size": '<rect x="1" y="1" width="0" height="8"/><circle r="0"/><path d=""/>',
    "off-page": '<rect x="100" y="1" width="8" height="8" opacity="0"/><rect x="100" width="1" height="1" fill="none"/>',  # noqa: E501
    "we-fail-to-draw": '<use xlink:href="#s"/><defs><rect id="s" x="1" y="1" width="8" height="8"/></defs>',
}


@needs_resvg
@pytest.mark.parametrize("expected", sorted(CASES))
def test_each_class_is_found(script: ModuleType, expected: str) -> None:
    assert script.classify_tree(tree(CASES[expected]))["class"] == expected


def test_the_cases_cover_every_class(script: ModuleType) -> None:
    assert set(CASES) == set(script.CLASSES)


def test_the_inventory_follows_uses_into_symbols_and_skips_definitions(script: ModuleType) -> None:
    found = script.inventory(
        tree(
            '<defs><path id="p" d="M0 0h1"/></defs><symbol id="s"><rect width="1" height="1"/><text/></symbol>'
            '<use xlink:href="#s"/><use xlink:href="#s"/><use href="#p"/><g id="loop"><use href="#loop"/></g>'
            '<image href="a.png"/><mask><rect width="1" height="1"/></mask>'
        )
    )
    # two instances of the symbol's rect and text, one of the path, the loop cut once; defined
    # where they stand: defs + path, symbol + rect + text, mask + rect
    assert (found.shapes, found.text, found.images, found.dangling_uses) == (3, 2, 1, 1)
    assert found.definitions == 7


def test_the_copy_drops_text_and_images_and_undoes_only_what_is_asked(script: ModuleType) -> None:
    root = tree(
        "<style>.a { display: none; fill: red }</style>"
        '<rect class="a" style="opacity:0;clip-path:url(#c)" display="none" fill="none" width="1" height="1"/>'
        "<text>hello</text><image href='a.png'/>"
    )
    plain = script.serialise(root)
    assert "<text" not in plain and "<image" not in plain and 'display="none"' in plain
    unhidden = script.serialise(root, frozenset({"hidden"}))
    assert "display" not in unhidden and "opacity:0" in unhidden and ".a {  fill: red }" in unhidden
    painted = script.serialise(root, frozenset({"unpainted"}))
    assert 'fill="#000"' in painted and "fill: red" not in painted and 'display="none"' in painted


@needs_resvg
def test_resvg_pixels_counts_the_square_at_the_page_width(script: ModuleType) -> None:
    # 8 of 10 units at 512 px: the square spans x in [51.2, 460.8], so columns 51..460 have
    # alpha > 0 (410 of them), and the same rows.
    svg = script.serialise(tree(f"<rect {SQUARE}/>"))
    assert script.resvg_pixels(svg) == 410 * 410
