"""Colours, lengths, transforms and CSS for the SVG reader."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from flexiclip_core.errors import SvgParseError
from flexiclip_core.svg._colours import NAMED_COLOURS

RGB = tuple[float, float, float]
Affine = tuple[float, float, float, float, float, float]
"""SVG matrix(a b c d e f): x' = a·x + c·y + e, y' = b·x + d·y + f."""

IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
DPI = 96.0
DEFAULT_FONT_SIZE_PX = 16.0

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(NUMBER)
_LENGTH_RE = re.compile(r"\s*(" + NUMBER + r")\s*(px|pt|pc|mm|cm|in|em|ex|%)?\s*$", re.IGNORECASE)
_NON_FINITE_RE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
_UNIT_PX = {"px": 1.0, "pt": DPI / 72.0, "pc": DPI / 6.0, "mm": DPI / 25.4, "cm": DPI / 2.54, "in": DPI}
_TRANSFORM_RE = re.compile(r"\s*,?\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)\s*,?", re.IGNORECASE)
_RGB_FUNC_RE = re.compile(r"rgba?\(([^)]*)\)", re.IGNORECASE)
_HSL_FUNC_RE = re.compile(r"hsla?\(([^)]*)\)", re.IGNORECASE)
_URL_RE = re.compile(r"url\(\s*['\"]?([^'\")]*)['\"]?\s*\)\s*(.*)$", re.IGNORECASE | re.DOTALL)


class InvalidValue(ValueError):
    """An attribute value that cannot be read (caught by the caller, which warns)."""


def check_finite_text(value: str, what: str, *, clip: str, element: str) -> None:
    """Raise `SvgParseError` when ``value`` spells a NaN or infinity."""
    if _NON_FINITE_RE.search(value):
        raise SvgParseError(f"non-finite number in {what}: {value[:60]!r}", clip=clip, element=element)


def finite_float(token: str, what: str, *, clip: str, element: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise SvgParseError(f"number out of range in {what}: {token[:60]!r}", clip=clip, element=element)
    return value


def parse_numbers(value: str, what: str, *, clip: str, element: str) -> list[float]:
    check_finite_text(value, what, clip=clip, element=element)
    return [finite_float(t, what, clip=clip, element=element) for t in _NUMBER_RE.findall(value)]


@dataclass(frozen=True)
class LengthContext:
    """What relative units resolve against."""

    viewport_width: float
    viewport_height: float
    font_size: float = DEFAULT_FONT_SIZE_PX

    def percent_base(self, axis: str) -> float:
        if axis == "x":
            return self.viewport_width
        if axis == "y":
            return self.viewport_height
        return math.hypot(self.viewport_width, self.viewport_height) / math.sqrt(2.0)


def parse_length(value: str, context: LengthContext, axis: str, *, clip: str, element: str) -> float:
    """A length in user units; ``axis`` is x, y or other (percentages of the diagonal)."""
    check_finite_text(value, "length", clip=clip, element=element)
    match = _LENGTH_RE.match(value)
    if not match:
        raise InvalidValue(f"invalid length {value[:40]!r}")
    number = finite_float(match.group(1), "length", clip=clip, element=element)
    unit = (match.group(2) or "px").lower()
    if unit == "%":
        return number / 100.0 * context.percent_base(axis)
    if unit == "em":
        return number * context.font_size
    if unit == "ex":
        return number * context.font_size / 2.0
    return number * _UNIT_PX[unit]


def multiply(outer: Affine, inner: Affine) -> Affine:
    """outer ∘ inner: apply ``inner`` first."""
    a1, b1, c1, d1, e1, f1 = outer
    a2, b2, c2, d2, e2, f2 = inner
    return (
        a1 * a2 + c1 * b2,
        b1 * a2 + d1 * b2,
        a1 * c2 + c1 * d2,
        b1 * c2 + d1 * d2,
        a1 * e2 + c1 * f2 + e1,
        b1 * e2 + d1 * f2 + f1,
    )


def parse_transform(value: str, *, clip: str, element: str) -> Affine:
    """The matrix of an SVG transform list (applied right to left, as written)."""
    result = IDENTITY
    position = 0
    text = value.strip()
    while position < len(text):
        match = _TRANSFORM_RE.match(text, position)
        if not match:
            raise InvalidValue(f"invalid transform {value[:60]!r}")
        position = match.end()
        name = match.group(1).lower()
        args = parse_numbers(match.group(2), "transform", clip=clip, element=element)
        result = multiply(result, _transform_matrix(name, args, value))
    return result


def _transform_matrix(name: str, args: list[float], value: str) -> Affine:
    arity = {"matrix": (6,), "translate": (1, 2), "scale": (1, 2), "rotate": (1, 3), "skewx": (1,), "skewy": (1,)}
    if len(args) not in arity[name]:
        raise InvalidValue(f"{name}() takes {arity[name]} numbers in {value[:60]!r}")
    if name == "matrix":
        return tuple(args)  # type: ignore[return-value]
    if name == "translate":
        return (1.0, 0.0, 0.0, 1.0, args[0], args[1] if len(args) > 1 else 0.0)
    if name == "scale":
        sx = args[0]
        sy = args[1] if len(args) > 1 else sx
        return (sx, 0.0, 0.0, sy, 0.0, 0.0)
    if name == "rotate":
        angle = math.radians(args[0])
        cos, sin = math.cos(angle), math.sin(angle)
        rotation = (cos, sin, -sin, cos, 0.0, 0.0)
        if len(args) == 3:
            cx, cy = args[1], args[2]
            return multiply((1.0, 0.0, 0.0, 1.0, cx, cy), multiply(rotation, (1.0, 0.0, 0.0, 1.0, -cx, -cy)))
        return rotation
    if name == "skewx":
        return (1.0, 0.0, math.tan(math.radians(args[0])), 1.0, 0.0, 0.0)
    return (1.0, math.tan(math.radians(args[0])), 0.0, 1.0, 0.0, 0.0)


# --- colours -----------------------------------------------------------------------------------


def _channel(token: str) -> float:
    token = token.strip()
    if token.endswith("%"):
        return min(max(float(token[:-1]) / 100.0, 0.0), 1.0)
    return min(max(float(token) / 255.0, 0.0), 1.0)


def _alpha(token: str) -> float:
    token = token.strip()
    if token.endswith("%"):
        return min(max(float(token[:-1]) / 100.0, 0.0), 1.0)
    return min(max(float(token), 0.0), 1.0)


def _hsl_to_rgb(hue: float, saturation: float, lightness: float) -> RGB:
    def component(n: float) -> float:
        k = (n + hue / 30.0) % 12.0
        a = saturation * min(lightness, 1.0 - lightness)
        return lightness - a * max(-1.0, min(k - 3.0, 9.0 - k, 1.0))

    return (component(0), component(8), component(4))


def parse_colour(value: str) -> tuple[RGB, float] | None:
    """(rgb, alpha) of a CSS colour, or None when ``value`` is not one (keywords handled by callers)."""
    text = value.strip().lower()
    if text.startswith("#"):
        digits = text[1:]
        if not re.fullmatch(r"[0-9a-f]+", digits or "x"):
            return None
        if len(digits) in (3, 4):
            channels = [int(ch * 2, 16) / 255.0 for ch in digits]
        elif len(digits) in (6, 8):
            channels = [int(digits[i : i + 2], 16) / 255.0 for i in range(0, len(digits), 2)]
        else:
            return None
        alpha = channels[3] if len(channels) == 4 else 1.0
        return (channels[0], channels[1], channels[2]), alpha
    if text in NAMED_COLOURS:
        r, g, b = NAMED_COLOURS[text]
        return (r / 255.0, g / 255.0, b / 255.0), 1.0
    match = _RGB_FUNC_RE.fullmatch(text)
    if match:
        parts = [p for p in re.split(r"[\s,/]+", match.group(1).strip()) if p]
        try:
            if len(parts) not in (3, 4):
                return None
            if len(parts) == 4 and parts[3].endswith("%"):
                return None  # CSS Color 3, which SVG cites: alpha is a number (resvg agrees)
            rgb = (_channel(parts[0]), _channel(parts[1]), _channel(parts[2]))
            return rgb, _alpha(parts[3]) if len(parts) == 4 else 1.0
        except ValueError:
            return None
    match = _HSL_FUNC_RE.fullmatch(text)
    if match:
        parts = [p for p in re.split(r"[\s,/]+", match.group(1).strip()) if p]
        try:
            if len(parts) not in (3, 4):
                return None
            if len(parts) == 4 and parts[3].endswith("%"):
                return None
            hue = float(parts[0].removesuffix("deg")) % 360.0
            rgb = _hsl_to_rgb(hue, _alpha(parts[1]), _alpha(parts[2]))
            return rgb, _alpha(parts[3]) if len(parts) == 4 else 1.0
        except ValueError:
            return None
    if text == "transparent":
        return (0.0, 0.0, 0.0), 0.0
    return None


def parse_url(value: str) -> tuple[str, str] | None:
    """(url, fallback) of a ``url(...) fallback`` paint, or None."""
    match = _URL_RE.match(value.strip())
    if not match:
        return None
    return match.group(1).strip(), match.group(2).strip()


# --- CSS ---------------------------------------------------------------------------------------

COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)


_IMPORTANT_RE = re.compile(r"!\s*important\s*$", re.IGNORECASE)


def parse_declarations(text: str, *, important: bool = False) -> dict[str, str]:
    """``a: b; c: d`` → {a: b, c: d} (last wins): the normal declarations, or with
    ``important`` those marked ``!important`` (marker removed), which the cascade applies last."""
    declarations: dict[str, str] = {}
    for item in COMMENT_RE.sub("", text).split(";"):
        name, sep, value = item.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        marker = _IMPORTANT_RE.search(value)
        if (marker is not None) != important:
            continue
        value = value[: marker.start()].strip() if marker else value.strip()
        if name:
            declarations[name] = value
    return declarations
