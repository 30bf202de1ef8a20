"""`svg._xml`: elements by local name, attributes by SVG name, document order, and the byte limit
applied before a file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from flexiclip_core.errors import SvgLimitExceeded
from flexiclip_core.svg._xml import parse_xml, read_source


def test_names_order_and_text() -> None:
    root = parse_xml(
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:i="urn:x">'
        b'<style>rect { fill: red }</style><use xlink:href="#r" i:flag="1"/><i:extra/><rect id="r"/></svg>',
        clip="c",
        max_elements=10,
        max_depth=5,
    )
    assert root.tag == "svg" and root.ordinal == 1
    style, use, extra, rect = root.children
    assert (style.tag, style.text) == ("style", "rect { fill: red }")
    assert use.attrs == {"xlink:href": "#r"}  # attributes of other namespaces are dropped
    assert extra.tag == "{urn:x}extra" and not extra.is_svg and extra.describe() == "<extra #4>"
    assert [e.ordinal for e in root.children] == [2, 3, 4, 5] and rect.describe() == '<rect id="r">'


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    source = tmp_path / "big.svg"
    source.write_bytes(b"<svg/>" + b" " * 100)
    with pytest.raises(SvgLimitExceeded, match="file is 106 bytes, over max_bytes=100"):
        read_source(source, None, max_bytes=100)
    assert read_source(source, None, max_bytes=106) == (source.read_bytes(), "big.svg")
