"""`svg._cascade`: computed styles by hand — inheritance, the order presentation attribute < style
sheet < ``style=`` < ``!important``, non-inherited properties kept apart, and CSS transforms."""

from __future__ import annotations

from flexiclip_core.svg._cascade import Cascade, css_transform_as_svg, initial_context
from flexiclip_core.svg._style import IDENTITY, LengthContext
from flexiclip_core.svg._warnings import WarningLog
from flexiclip_core.svg._xml import parse_xml


def test_the_cascade_orders_its_sources_and_inherits_down() -> None:
    root = parse_xml(
        b'<svg xmlns="http://www.w3.org/2000/svg"><style>.a { fill: green; stroke: navy !important }'
        b" rect { stroke-width: 3 }</style>"
        b'<g fill="red" opacity="0.5" font-size="20"><rect class="a" fill="blue" stroke="red" style="stroke: teal"'
        b' font-size="2em"/></g></svg>',
        clip="c",
        max_elements=10,
        max_depth=5,
    )
    cascade = Cascade(root, WarningLog("c"))
    context = initial_context(IDENTITY, LengthContext(100.0, 100.0))
    group = root.children[1]
    group_style, group_own = cascade.compute_style(group, context)
    assert group_style["fill"] == "red" and group_own == {"opacity": "0.5"}  # opacity is not inherited
    rect_style, rect_own = cascade.compute_style(group.children[0], initial_context(IDENTITY, context.lengths))
    # The sheet's class rule beats the presentation attribute; !important beats style=.
    assert rect_style["fill"] == "green" and rect_style["stroke"] == "navy" and rect_style["stroke-width"] == "3"
    assert "opacity" not in rect_own
    # 2em of the parent's font size (the initial 16 px here: the group's 20 is not this context's parent).
    assert rect_style["font-size"] == "32.0px"


def test_css_transforms_become_svg_syntax() -> None:
    assert css_transform_as_svg("translateX(5px) rotate(0.25turn)") == "translate(5.0 0) rotate(90.0)"
    assert css_transform_as_svg("scaleY(2)") == "scale(1 2)"
