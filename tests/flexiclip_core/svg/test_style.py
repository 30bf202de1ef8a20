"""`svg._style`: attribute values by hand — lengths in every unit, transform lists, colours."""

from __future__ import annotations

import math

import pytest

from flexiclip_core.svg._style import LengthContext, multiply, parse_colour, parse_length, parse_transform

LENGTHS = LengthContext(300.0, 400.0, font_size=16.0)


@pytest.mark.parametrize(
    ("value", "axis", "expected"),
    [
        ("2em", "x", 32.0),
        ("3ex", "y", 24.0),  # half an em
        ("1in", "x", 96.0),
        ("3mm", "x", 3 * 96 / 25.4),
        ("10%", "x", 30.0),
        ("10%", "y", 40.0),
        ("10%", "other", 0.1 * 500.0 / math.sqrt(2.0)),  # the normalised diagonal: √(300² + 400²) / √2
    ],
)
def test_lengths_resolve_against_font_and_viewport(value: str, axis: str, expected: float) -> None:
    assert parse_length(value, LENGTHS, axis, clip="c", element="e") == pytest.approx(expected, rel=1e-12)


def test_transform_lists_compose_right_to_left() -> None:
    # scale first, then translate: (x, y) → (2x + 10, 2y + 20).
    assert parse_transform("translate(10 20) scale(2)", clip="c", element="e") == (2, 0, 0, 2, 10, 20)
    # rotate(90) about (10, 0): (x, y) → (10 − y, x − 10), so the origin goes to (10, −10).
    rotated = parse_transform("rotate(90 10 0)", clip="c", element="e")
    assert rotated == pytest.approx((0, 1, -1, 0, 10, -10), abs=1e-12)
    assert parse_transform("skewX(45)", clip="c", element="e") == pytest.approx((1, 0, 1, 1, 0, 0), abs=1e-12)
    # multiply(outer, inner) applies inner first: translate ∘ scale as above.
    assert multiply((1, 0, 0, 1, 10, 20), (2, 0, 0, 2, 0, 0)) == (2, 0, 0, 2, 10, 20)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#abc", ((0xAA / 255, 0xBB / 255, 0xCC / 255), 1.0)),
        ("#ff000080", ((1.0, 0.0, 0.0), 0x80 / 255)),
        ("rgba(255, 0, 51, 0.5)", ((1.0, 0.0, 0.2), 0.5)),
        ("rgb(20%, 40%, 60%)", ((0.2, 0.4, 0.6), 1.0)),
        ("hsl(120, 100%, 25%)", ((0.0, 0.5, 0.0), 1.0)),
        ("rgba(100%, 0%, 0%, 50%)", None),  # CSS Color 3: a percentage alpha is invalid
        ("teal", ((0.0, 128 / 255, 128 / 255), 1.0)),
        ("transparent", ((0.0, 0.0, 0.0), 0.0)),
        ("#12", None),
    ],
)
def test_colours(value: str, expected: tuple | None) -> None:
    parsed = parse_colour(value)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert parsed[0] == pytest.approx(expected[0], abs=1e-12) and parsed[1] == pytest.approx(expected[1])
