"""Same-document references: the id index, ``#id`` hrefs and the size of the tree once
``<use>`` is expanded (docs/pipeline.md §8: only local references are followed)."""

from __future__ import annotations

from flexiclip_core.svg._xml import Element


def index_ids(root: Element) -> dict[str, Element]:
    """Element of every id; the first in document order wins when an id repeats."""
    ids: dict[str, Element] = {}
    stack = [root]
    while stack:
        element = stack.pop()
        element_id = element.attrs.get("id")
        if element_id and element_id not in ids:
            ids[element_id] = element
        stack.extend(reversed(element.children))
    return ids


def href_of(element: Element) -> str | None:
    """The element's ``href`` (SVG 2) or ``xlink:href`` (SVG 1.1), else None."""
    return element.attrs.get("href") or element.attrs.get("xlink:href")


def local_reference(value: str) -> str | None:
    """The id of a same-document reference ``#id``, else None."""
    value = value.strip()
    if value.startswith("#") and len(value) > 1:
        return value[1:]
    return None


def expanded_extent(root: Element, ids: dict[str, Element], cap: int) -> tuple[int, int]:
    """(elements, nesting depth) of the tree once every local <use> is expanded, each capped
    at ``cap`` + 1; computed iteratively with memoisation, so nested-<use> bombs are measured
    in time linear in the file without instantiating anything. Reference cycles count once."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    in_progress: set[int] = set()

    def successors(element: Element) -> list[Element]:
        following = list(element.children)
        if element.tag == "use":
            target = ids.get(local_reference(href_of(element) or "") or "")
            if target is not None:
                following.append(target)
        return following

    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        element, expanded = stack.pop()
        key = id(element)
        if expanded:
            in_progress.discard(key)
            size, depth = 1, 1
            for successor in successors(element):
                size += sizes.get(id(successor), 0)
                depth = max(depth, 1 + depths.get(id(successor), 0))
            sizes[key] = min(size, cap + 1)
            depths[key] = min(depth, cap + 1)
            continue
        if key in sizes or key in in_progress:
            continue
        in_progress.add(key)
        stack.append((element, True))
        stack.extend((successor, False) for successor in successors(element) if id(successor) not in sizes)
    return sizes[id(root)], depths[id(root)]
