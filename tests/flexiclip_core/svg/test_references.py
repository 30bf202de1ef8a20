"""`svg._references`: the id index, local hrefs, the tree's size once ``<use>`` is expanded and the
uses on a reference cycle, on documents small enough to count by hand."""

from __future__ import annotations

from flexiclip_core.svg._references import cyclic_uses, expanded_extent, href_of, index_ids, local_reference
from flexiclip_core.svg._xml import Element, parse_xml

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def root_of(body: str) -> Element:
    return parse_xml(f"<svg {NS}>{body}</svg>".encode(), clip="c", max_elements=100, max_depth=20)


def test_hrefs_are_local_ids_only() -> None:
    root = root_of('<use xlink:href="#a"/><use href="#b" xlink:href="#a"/>')
    assert [href_of(use) for use in root.children] == ["#a", "#b"]  # SVG 2 href wins over xlink:href
    assert local_reference("#a") == "a" and local_reference("other.svg#a") is None


def test_the_expanded_tree_is_counted_without_expanding_it() -> None:
    root = root_of('<g id="a"><rect/><rect/></g><use href="#a"/><use href="#a"/>')
    ids = index_ids(root)
    assert set(ids) == {"a"}
    # svg (1) + g with its rects (3) + each use with its copy of g (1 + 3, twice) = 12; svg → use → g → rect: 4 deep.
    assert expanded_extent(root, ids, cap=100) == (12, 4)
    assert expanded_extent(root, ids, cap=5) == (6, 4)  # capped at cap + 1


def test_only_uses_on_a_cycle_are_cyclic() -> None:
    root = root_of('<g id="a"><rect/><use id="inner" href="#a"/></g><use id="outer" href="#a"/>')
    inner = root.children[0].children[1]
    assert cyclic_uses(root, index_ids(root)) == {id(inner)}  # the outer use reaches a, not itself
