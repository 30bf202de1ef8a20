"""DOCTYPE internal subsets (issue 23 item 1, `svg/_dtd.py`): Illustrator's and Sodipodi's
declarations are read, every classic hostile construct is refused with its own one-line reason,
and nothing outside the file is ever opened (the audit-hook recorder of test_security).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flexiclip_core.errors import SvgLimitExceeded, SvgSecurityError
from flexiclip_core.svg import ParseConfig, SvgLimits, parse_svg
from tests.flexiclip_core.svg.resvg import assert_matches_resvg, needs_resvg
from tests.flexiclip_core.svg.test_security import parse_watched

W3C_DTD = '"-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"'
ILLUSTRATOR = f"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE svg PUBLIC {W3C_DTD} [
	<!ENTITY ns_svg "http://www.w3.org/2000/svg">
	<!ENTITY ns_xlink "http://www.w3.org/1999/xlink">
	<!ENTITY ns_ai "http://ns.adobe.com/AdobeIllustrator/10.0/">
	<!ENTITY st0 "fill:#C03020;stroke:#000000;stroke-width:4;">
	<!ENTITY half "50">
	<!ENTITY corner "&half;">
]>
<svg xmlns="&ns_svg;" xmlns:xlink="&ns_xlink;" xmlns:i="&ns_ai;" width="100" height="100">
<defs><rect id="r" width="30" height="30" fill="#2050A0"/></defs>
<rect x="10" y="10" width="&corner;" height="&half;" style="&st0;"/>
<use xlink:href="#r" x="60" y="60"/>
</svg>"""


def _doctype(subset: str, body: str = '<rect width="1" height="1"/>', external: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE svg {external}[{subset}]>'
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">{body}</svg>'
    ).encode()


@needs_resvg
def test_illustrator_entities_are_expanded_as_resvg_expands_them(tmp_path: Path) -> None:
    assert_matches_resvg(ILLUSTRATOR, tmp_path)


def test_illustrator_entities_are_expanded_in_attributes_and_styles() -> None:
    outcome, events = parse_watched(ILLUSTRATOR.encode(), clip_id="ai")
    assert not isinstance(outcome, Exception), outcome
    fills = [shape.fill.rgb for shape in outcome.shapes if shape.fill is not None]
    assert fills == [(0xC0 / 255, 0x30 / 255, 0x20 / 255), (0x20 / 255, 0x50 / 255, 0xA0 / 255)]
    # &corner; → &half; → 50: the rect is as wide as it is high; st0's stroke applies.
    (x0, y0), (x1, y1) = (
        outcome.shapes[0].subpaths[0].points.min(axis=0),
        outcome.shapes[0].subpaths[0].points.max(axis=0),
    )
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert outcome.shapes[0].stroke is not None and outcome.shapes[0].stroke.rgb == (0.0, 0.0, 0.0)
    assert not [w for w in outcome.warnings if w.code.startswith(("dtd", "entity"))]
    assert events == []


def test_sodipodi_attlist_binds_the_xlink_prefix_and_fixed_values_apply() -> None:
    # Old Sodipodi files declare xmlns:xlink only in the DTD; without it xlink:href is unbound.
    subset = (
        '<!ATTLIST svg xmlns:xlink CDATA #FIXED "http://www.w3.org/1999/xlink">'
        '<!ATTLIST rect fill CDATA #FIXED "#0000ff"><!ATTLIST circle fill CDATA "#00ff00"><!ELEMENT svg ANY>'
    )
    document = (
        f'<!DOCTYPE svg [{subset}]><svg xmlns="http://www.w3.org/2000/svg"><defs><rect id="r" width="4" '
        'height="4"/></defs><use xlink:href="#r"/><circle cx="9" cy="9" r="1"/><rect x="20" width="1" height="1" '
        'fill="red"/></svg>'
    ).encode()
    outcome, events = parse_watched(document, clip_id="sodipodi")
    assert not isinstance(outcome, Exception), outcome
    # The used rect takes the #FIXED blue; the circle's non-fixed default is ignored (black);
    # a specified fill wins over the #FIXED one.
    assert [s.fill.rgb for s in outcome.shapes] == [(0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0)]
    ignored = {w.element for w in outcome.warnings if w.code == "dtd-declaration-ignored"}
    assert ignored == {"<!ATTLIST circle fill>", "<!ELEMENT svg>"}
    assert events == []


def test_an_undeclared_entity_under_the_w3c_dtd_is_left_out_with_a_warning() -> None:
    document = (
        f'<!DOCTYPE svg PUBLIC {W3C_DTD}><svg xmlns="http://www.w3.org/2000/svg">'
        '<rect width="1" height="1"/><text>&nbsp;</text></svg>'
    ).encode()
    outcome, events = parse_watched(document)
    assert not isinstance(outcome, Exception), outcome
    assert ("entity-skipped", "&nbsp;") in {(w.code, w.element) for w in outcome.warnings}
    assert events == []


_LAUGHS = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
_WIDE = "x" * 100_000

HOSTILE = {
    # name: (document, error type, words in the message)
    "billion-laughs": (_doctype(_LAUGHS, "<text>&lol9;</text>"), SvgSecurityError, "&lol4; nesting references 4 deep"),
    "quadratic-blowup": (
        _doctype(f'<!ENTITY a "{_WIDE}">', f'<rect width="1" height="1" id="{"&a;" * 20}"/>'),
        SvgLimitExceeded,
        "expand to more than max_entity_expansion=1000000",
    ),
    "quadratic-blowup-utf16": (
        _doctype(f'<!ENTITY a "{_WIDE}">', f"<text>{'&a;' * 20}</text>")
        .decode()
        .replace('<?xml version="1.0"?>', "")
        .encode("utf-16"),
        SvgLimitExceeded,
        "max_entity_expansion",
    ),
    "one-huge-entity": (
        _doctype('<!ENTITY a "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">' + f'<!ENTITY b "{_WIDE}">'),
        SvgLimitExceeded,
        "entity &a; expands to more than",
    ),
    "xxe-file": (
        _doctype('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "<text>&xxe;</text>"),
        SvgSecurityError,
        "external entity 'xxe' (SYSTEM 'file:///etc/passwd')",
    ),
    "xxe-http-public": (
        _doctype('<!ENTITY xxe PUBLIC "-//X//EN" "http://127.0.0.1:9/x">', "<text>&xxe;</text>"),
        SvgSecurityError,
        "external entity 'xxe' (PUBLIC '-//X//EN')",
    ),
    "parameter-entity": (_doctype('<!ENTITY % pe "x">'), SvgSecurityError, "parameter entity 'pe'"),
    "parameter-entity-reference": (_doctype("%remote;"), SvgSecurityError, "parameter entity reference '%remote;'"),
    "parameter-entity-smuggling-xxe": (
        _doctype("<!ENTITY % a \"<!ENTITY b SYSTEM 'file:///etc/passwd'>\"> %a;", "<text>&b;</text>"),
        SvgSecurityError,
        "parameter entity 'a'",
    ),
    "external-dtd-with-subset": (
        _doctype('<!ENTITY a "b">', external='SYSTEM "http://127.0.0.1:9/evil.dtd" '),
        SvgSecurityError,
        "external DTD 'http://127.0.0.1:9/evil.dtd'",
    ),
    "w3c-lookalike-dtd": (
        _doctype('<!ENTITY a "b">', external='SYSTEM "http://www.w3.org.evil.example/svg11.dtd" '),
        SvgSecurityError,
        "external DTD",
    ),
    "unparsed-entity": (
        _doctype('<!NOTATION png SYSTEM "image/png"><!ENTITY pic SYSTEM "file:///etc/passwd" NDATA png>'),
        SvgSecurityError,
        "notation 'png'",
    ),
    "recursive-entities": (
        _doctype('<!ENTITY a "x&b;"><!ENTITY b "y&a;">', "<text>&a;</text>"),
        SvgSecurityError,
        "recursive entity reference",
    ),
    "too-many-entities": (
        _doctype("".join(f'<!ENTITY e{i} "v">' for i in range(300))),
        SvgLimitExceeded,
        "more than max_entities=256 entity declarations",
    ),
    "entity-of-elements": (
        _doctype(f'<!ENTITY g "{"<g/>" * 100}">', "&g;" * 1_100),
        SvgLimitExceeded,
        "more than max_elements=100000 elements",
    ),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_doctypes_are_refused_with_their_reason(case: str) -> None:
    document, error, words = HOSTILE[case]
    outcome, events = parse_watched(document, clip_id=case)
    assert type(outcome) is error, outcome
    assert words in str(outcome) and f"clip {case!r}" in str(outcome)
    assert events == []


def test_the_expansion_limit_is_the_boundary() -> None:
    # Two references of a 400-character entity expand to 800 characters.
    document = _doctype(f'<!ENTITY a "{"x" * 400}">', '<rect width="1" height="1" id="&a;"/><text>&a;</text>')
    at_limit = ParseConfig(limits=SvgLimits(max_entity_expansion=800))
    assert parse_svg(document, config=at_limit).shapes[0].fill is not None
    with pytest.raises(SvgLimitExceeded, match="max_entity_expansion=799"):
        parse_svg(document, config=ParseConfig(limits=SvgLimits(max_entity_expansion=799)))


def test_the_nesting_limit_is_the_boundary() -> None:
    # e3 → e2 → e1 → e0: references nested three deep, the default limit.
    chain = '<!ENTITY e0 "x">' + "".join(f'<!ENTITY e{i} "&e{i - 1};">' for i in range(1, 4))
    three_deep = _doctype(chain, '<rect width="1" height="1" id="&e3;"/>')
    assert parse_svg(three_deep).shapes
    with pytest.raises(SvgSecurityError, match="&e3; nesting references 3 deep"):
        parse_svg(three_deep, config=ParseConfig(limits=SvgLimits(max_entity_depth=2)))
