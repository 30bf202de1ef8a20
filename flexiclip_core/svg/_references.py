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


def cyclic_uses(root: Element, ids: dict[str, Element]) -> set[int]:
    """ids (Python ``id``) of the ``<use>`` elements whose expansion reaches themselves again —
    each use on a reference cycle, a use inside its own target included. SVG makes every such
    use an error, not rendered (SVG 2 §5.6), while the elements the cycle passes through still
    render where they stand. Tarjan's strongly connected components over the graph of child
    edges and use → target edges, iteratively: linear in the file."""

    def successors(element: Element) -> list[Element]:
        following = list(element.children)
        if element.tag == "use":
            target = ids.get(local_reference(href_of(element) or "") or "")
            if target is not None:
                following.append(target)
        return following

    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    component_stack: list[Element] = []
    cyclic: set[int] = set()
    counter = 0
    work: list[tuple[Element, list[Element], int]] = []

    def open_node(element: Element) -> None:
        nonlocal counter
        index[id(element)] = low[id(element)] = counter
        counter += 1
        component_stack.append(element)
        on_stack.add(id(element))
        work.append((element, successors(element), 0))

    open_node(root)
    while work:
        element, following, position = work.pop()
        key = id(element)
        if position < len(following):
            work.append((element, following, position + 1))
            successor = following[position]
            if id(successor) not in index:
                open_node(successor)
            elif id(successor) in on_stack:
                low[key] = min(low[key], index[id(successor)])
            continue
        if work:
            parent = id(work[-1][0])
            low[parent] = min(low[parent], low[key])
        if low[key] == index[key]:
            component: list[Element] = []
            while True:
                member = component_stack.pop()
                on_stack.discard(id(member))
                component.append(member)
                if member is element:
                    break
            # Tree edges never form a cycle, so a component of several elements is a reference
            # cycle; a lone element is on one only when it is a use of itself.
            if len(component) > 1 or (element.tag == "use" and element in successors(element)):
                cyclic.update(id(member) for member in component if member.tag == "use")
    return cyclic
