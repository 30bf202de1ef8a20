"""SVG geometry → cubic Bézier subpaths (element user units, before any transform).

`ShapeGeometry` builds a basic shape's or a path's subpaths from its attributes and counts them
against the document's path-command budget; the functions below it do the arithmetic.

Every segment becomes a cubic: lines get control points at 1/3 and 2/3, quadratics are
degree-elevated exactly, elliptical arcs are split into pieces of at most
`MAX_ARC_PIECE_DEGREES` and each piece approximated by the standard tangent-length cubic
(radial error ≈ 2.4e-5 × radius at 60°, i.e. < 0.003 px for a circle filling the 256² canvas).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np

from flexiclip_core.clipart import Shape
from flexiclip_core.errors import SvgLimitExceeded, SvgParseError
from flexiclip_core.svg._style import NUMBER, LengthContext, parse_numbers

if TYPE_CHECKING:
    from flexiclip_core.svg._cascade import Cascade
    from flexiclip_core.svg._warnings import WarningLog
    from flexiclip_core.svg._xml import Element

MAX_ARC_PIECE_DEGREES = 60.0

RawSubPath = tuple[list[float], bool]
"""Flat control-point coordinates [x0, y0, x1, y1, ...] (3·n + 1 points) and the closed flag."""

_PATH_TOKEN_RE = re.compile(r"[A-Za-z]|" + NUMBER)
_PATH_JUNK_RE = re.compile(r"[^\sA-Za-z0-9.,+-]")
# Where the path grammar breaks on commas: two in a row, one next to a command letter or one
# opening the data (SVG 1.1 §8.3.9: a comma only separates two numbers or flags).
_BAD_COMMA_RE = re.compile(r",[\s]*,|[A-DF-Za-df-z][\s]*,|,[\s]*[A-DF-Za-df-z]|^[\s]*,")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
_NON_FINITE_RE = re.compile(r"nan|inf", re.IGNORECASE)
_TOKEN_WINDOW_CHARS = 1 << 16
_LOOKAHEAD_TOKENS = 16
"""More than one command's worth of tokens (an arc takes at most 8)."""
_SEPARATORS = r"\s,MmLlHhVvCcSsQqTtAaZz"
_SEPARATOR_RE = re.compile(f"[{_SEPARATORS}]")
_LAST_SEPARATOR_RE = re.compile(f"[{_SEPARATORS}][^{_SEPARATORS}]*$")


class CommandBudgetExceeded(ValueError):
    """More path commands than the caller's remaining budget; the caller raises the limit error."""

    def __init__(self, commands: int) -> None:
        super().__init__(f"over {commands} path commands")
        self.commands = commands


class PathDataError(ValueError):
    """Malformed path data; the caller renders what was read before the error, as SVG does."""

    def __init__(self, message: str, partial: list[RawSubPath], commands: int) -> None:
        super().__init__(message)
        self.partial = partial
        self.commands = commands


def _line_to(points: list[float], x0: float, y0: float, x1: float, y1: float) -> None:
    dx, dy = x1 - x0, y1 - y0
    points.extend((x0 + dx / 3.0, y0 + dy / 3.0, x0 + 2.0 * dx / 3.0, y0 + 2.0 * dy / 3.0, x1, y1))


def _quad_to(points: list[float], x0: float, y0: float, qx: float, qy: float, x1: float, y1: float) -> None:
    points.extend(
        (
            x0 + 2.0 / 3.0 * (qx - x0),
            y0 + 2.0 / 3.0 * (qy - y0),
            x1 + 2.0 / 3.0 * (qx - x1),
            y1 + 2.0 / 3.0 * (qy - y1),
            x1,
            y1,
        )
    )


def arc_to(
    points: list[float],
    x0: float,
    y0: float,
    rx: float,
    ry: float,
    rotation_deg: float,
    large_arc: bool,
    sweep: bool,
    x1: float,
    y1: float,
) -> None:
    """Append cubics for an SVG elliptical arc (endpoint parameterisation, SVG 1.1 F.6.5–F.6.6)."""
    if x0 == x1 and y0 == y1:
        return
    rx, ry = abs(rx), abs(ry)
    if rx == 0.0 or ry == 0.0:
        _line_to(points, x0, y0, x1, y1)
        return
    phi = math.radians(rotation_deg % 360.0)
    cos_phi, sin_phi = math.cos(phi), math.sin(phi)
    half_dx, half_dy = (x0 - x1) / 2.0, (y0 - y1) / 2.0
    x_p = cos_phi * half_dx + sin_phi * half_dy
    y_p = -sin_phi * half_dx + cos_phi * half_dy
    # Radii too small to reach the end point are scaled up uniformly (F.6.6).
    radii_check = (x_p * x_p) / (rx * rx) + (y_p * y_p) / (ry * ry)
    if radii_check > 1.0:
        scale = math.sqrt(radii_check)
        rx, ry = rx * scale, ry * scale
    numerator = rx * rx * ry * ry - rx * rx * y_p * y_p - ry * ry * x_p * x_p
    denominator = rx * rx * y_p * y_p + ry * ry * x_p * x_p
    factor = math.sqrt(max(numerator, 0.0) / denominator) if denominator > 0 else 0.0
    if large_arc == sweep:
        factor = -factor
    cx_p = factor * rx * y_p / ry
    cy_p = -factor * ry * x_p / rx
    cx = cos_phi * cx_p - sin_phi * cy_p + (x0 + x1) / 2.0
    cy = sin_phi * cx_p + cos_phi * cy_p + (y0 + y1) / 2.0
    start_angle = math.atan2((y_p - cy_p) / ry, (x_p - cx_p) / rx)
    end_angle = math.atan2((-y_p - cy_p) / ry, (-x_p - cx_p) / rx)
    delta = end_angle - start_angle
    if sweep and delta < 0:
        delta += 2.0 * math.pi
    elif not sweep and delta > 0:
        delta -= 2.0 * math.pi
    elliptic_arc(points, cx, cy, rx, ry, cos_phi, sin_phi, start_angle, delta)
    # Land exactly on the requested end point (the parametric end differs by rounding only).
    points[-2], points[-1] = x1, y1


def elliptic_arc(
    points: list[float],
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    cos_phi: float,
    sin_phi: float,
    start_angle: float,
    delta: float,
) -> None:
    """Append cubics for the arc of angle ``delta`` from ``start_angle`` (radians, centre form)."""
    pieces = max(1, math.ceil(abs(delta) / math.radians(MAX_ARC_PIECE_DEGREES) - 1e-9))
    step = delta / pieces
    tangent = 4.0 / 3.0 * math.tan(step / 4.0)

    def at(angle: float) -> tuple[float, float, float, float]:
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        ex, ey = rx * cos_a, ry * sin_a
        dx, dy = -rx * sin_a, ry * cos_a
        return (
            cx + cos_phi * ex - sin_phi * ey,
            cy + sin_phi * ex + cos_phi * ey,
            cos_phi * dx - sin_phi * dy,
            sin_phi * dx + cos_phi * dy,
        )

    angle = start_angle
    px, py, tx, ty = at(angle)
    for _ in range(pieces):
        angle += step
        qx, qy, ux, uy = at(angle)
        points.extend((px + tangent * tx, py + tangent * ty, qx - tangent * ux, qy - tangent * uy, qx, qy))
        px, py, tx, ty = qx, qy, ux, uy


def _first_grammar_error(d: str) -> tuple[int, str] | None:
    """(position, reason) of the first character the path grammar refuses outright — one the
    tokeniser would otherwise skip (a stray symbol, a misplaced comma) — or None."""
    junk = _PATH_JUNK_RE.search(d)
    comma = _BAD_COMMA_RE.search(d)
    if junk is None and comma is None:
        return None
    if comma is None or (junk is not None and junk.start() <= comma.start()):
        assert junk is not None
        return junk.start(), f"invalid character {junk.group()!r} in path data"
    # Cut at the offending comma itself so the number before it still counts.
    position = d.index(",", comma.start())
    return position, "misplaced comma in path data"


def parse_path_data(
    d: str, *, clip: str, element: str, max_commands: int | None = None
) -> tuple[list[RawSubPath], int]:
    """Subpaths of a ``d`` attribute and the number of commands (implicit repeats included).

    The data is tokenised in windows of `_TOKEN_WINDOW_CHARS`, so a huge attribute costs memory
    in proportion to what is kept, and reading stops as soon as ``max_commands`` is exceeded
    (`SvgLimitExceeded`). Raises `SvgParseError` for NaN/inf or overflowing numbers,
    `PathDataError` (with what was read so far) for other malformed data.
    """
    tokens: list[str] = []
    is_number: list[bool] = []
    cursor = 0  # next character of ``d`` to tokenise
    subpaths: list[RawSubPath] = []
    points: list[float] | None = None
    commands = 0
    x = y = start_x = start_y = 0.0
    # Reflection sources for S/T: last cubic 2nd control point, last quadratic control point.
    last_cubic: tuple[float, float] | None = None
    last_quad: tuple[float, float] | None = None
    command = ""
    index = 0
    count = 0

    def refill() -> None:
        """Append the next window's tokens, cutting only at a separator so no number splits."""
        nonlocal tokens, is_number, index, count, cursor
        end = min(len(d), cursor + _TOKEN_WINDOW_CHARS)
        if end < len(d):
            cut = _LAST_SEPARATOR_RE.search(d, cursor, end)
            if cut is not None and cut.start() > cursor:
                end = cut.start()
            else:
                following = _SEPARATOR_RE.search(d, end)
                end = following.start() if following else len(d)
        window = _PATH_TOKEN_RE.findall(d, cursor, end)
        cursor = end
        tokens = tokens[index:] + window
        is_number = is_number[index:] + [not token.isalpha() for token in window]
        index = 0
        count = len(tokens)

    def fail(message: str) -> PathDataError:
        if points is not None and len(points) > 2:
            subpaths.append((points, False))
        return PathDataError(message, subpaths, commands)

    def number() -> float:
        nonlocal index
        if index >= count or not is_number[index]:
            raise fail(f"missing number after command {command!r}")
        index += 1
        return float(tokens[index - 1])

    def numbers(arity: int) -> list[float]:
        """The next ``arity`` numbers in one slice (the hot path of big files)."""
        nonlocal index
        end = index + arity
        if end > count or not all(is_number[index:end]):
            return [number() for _ in range(arity)]
        values = list(map(float, tokens[index:end]))
        index = end
        return values

    def flag() -> bool:
        nonlocal index
        if index >= count:
            raise fail("missing arc flag")
        token = tokens[index]
        if token[0] in "01" and len(token) > 1:
            # Flags may be packed against what follows: "a1 1 0 0110 10" → 0, 1, 10.
            tokens[index] = token[1:]
            is_number[index] = True
        elif token in ("0", "1"):
            index += 1
        else:
            raise fail(f"invalid arc flag {token[:20]!r}")
        return token[0] == "1"

    if _NON_FINITE_RE.search(d):
        raise SvgParseError("non-finite number (NaN/inf) in path data", clip=clip, element=element)
    # SVG renders a path up to its first error and stops there (SVG 1.1 F.2, SVG 2 §9.5.4), so
    # the data is read only up to the first character the grammar refuses; an error found
    # while reading what precedes it comes first.
    grammar_error = _first_grammar_error(d)
    if grammar_error is not None:
        d, grammar_message = d[: grammar_error[0]], grammar_error[1]
    while True:
        if count - index < _LOOKAHEAD_TOKENS and cursor < len(d):
            refill()
            continue
        if index >= count:
            break
        if max_commands is not None and commands >= max_commands:
            raise CommandBudgetExceeded(commands)
        token = tokens[index]
        if token.isalpha():
            if token.upper() not in _ARITY:
                raise fail(f"unknown path command {token!r}")
            command = token
            index += 1
        elif command and command in "Zz":
            raise fail("number after closepath")
        if not command or (commands == 0 and command.upper() != "M"):
            # A path that does not open with a moveto is in error from its first command: nothing
            # is drawn (SVG 2 §9.5.4).
            raise fail("path data must start with a moveto")
        upper = command.upper()
        relative = command.islower()
        commands += 1
        if upper == "Z":
            if points is not None:
                if len(points) == 2:
                    # "M x y z" is a zero-length subpath: SVG strokes it with its caps (round or
                    # square), which an open degenerate segment gives; a closed one would not.
                    _line_to(points, x, y, x, y)
                    subpaths.append((points, False))
                else:
                    if x != start_x or y != start_y:
                        _line_to(points, x, y, start_x, start_y)
                    subpaths.append((points, True))
                points = None
            x, y = start_x, start_y
            last_cubic = last_quad = None
            continue
        if points is None:
            if upper != "M":
                # Drawing after Z without a moveto starts at the closed subpath's start point.
                points = [x, y]
        if upper == "M":
            nx, ny = numbers(2)
            if relative:
                nx, ny = nx + x, ny + y
            if points is not None and len(points) > 2:
                subpaths.append((points, False))
            points = [nx, ny]
            x, y = start_x, start_y = nx, ny
            command = "l" if relative else "L"
            last_cubic = last_quad = None
            continue
        assert points is not None
        if upper == "L":
            nx, ny = numbers(2)
            if relative:
                nx, ny = nx + x, ny + y
            _line_to(points, x, y, nx, ny)
            x, y = nx, ny
            last_cubic = last_quad = None
        elif upper == "H":
            nx = number() + (x if relative else 0.0)
            _line_to(points, x, y, nx, y)
            x = nx
            last_cubic = last_quad = None
        elif upper == "V":
            ny = number() + (y if relative else 0.0)
            _line_to(points, x, y, x, ny)
            y = ny
            last_cubic = last_quad = None
        elif upper in "CS":
            if upper == "C":
                x1, y1, x2, y2, nx, ny = numbers(6)
                if relative:
                    x1, y1 = x1 + x, y1 + y
            else:
                x1, y1 = (2.0 * x - last_cubic[0], 2.0 * y - last_cubic[1]) if last_cubic else (x, y)
                x2, y2, nx, ny = numbers(4)
            if relative:
                x2, y2, nx, ny = x2 + x, y2 + y, nx + x, ny + y
            points.extend((x1, y1, x2, y2, nx, ny))
            last_cubic = (x2, y2)
            last_quad = None
            x, y = nx, ny
        elif upper in "QT":
            if upper == "Q":
                qx, qy, nx, ny = numbers(4)
                if relative:
                    qx, qy = qx + x, qy + y
            else:
                qx, qy = (2.0 * x - last_quad[0], 2.0 * y - last_quad[1]) if last_quad else (x, y)
                nx, ny = numbers(2)
            if relative:
                nx, ny = nx + x, ny + y
            _quad_to(points, x, y, qx, qy, nx, ny)
            last_quad = (qx, qy)
            last_cubic = None
            x, y = nx, ny
        else:  # A
            rx, ry, rotation = numbers(3)
            large_arc, sweep = flag(), flag()
            nx, ny = number(), number()
            if relative:
                nx, ny = nx + x, ny + y
            arc_to(points, x, y, rx, ry, rotation, large_arc, sweep, nx, ny)
            x, y = nx, ny
            last_cubic = last_quad = None
    if points is not None and len(points) > 2:
        subpaths.append((points, False))
    if grammar_error is not None:
        points = None
        raise fail(grammar_message)
    for flat, _ in subpaths:
        # float() of an over-long number gives inf rather than failing: reject it here.
        if not np.isfinite(np.asarray(flat)).all():
            raise SvgParseError("number out of range in path data", clip=clip, element=element)
    return subpaths, commands


def rect_path(x: float, y: float, width: float, height: float, rx: float, ry: float) -> RawSubPath:
    """A closed rectangle, with elliptical corners when rx, ry > 0, clockwise from top-left."""
    points = [x + rx, y]
    if rx > 0.0 and ry > 0.0:
        corner = math.pi / 2.0
        _line_to(points, x + rx, y, x + width - rx, y)
        elliptic_arc(points, x + width - rx, y + ry, rx, ry, 1.0, 0.0, -corner, corner)
        _line_to(points, points[-2], points[-1], x + width, y + height - ry)
        elliptic_arc(points, x + width - rx, y + height - ry, rx, ry, 1.0, 0.0, 0.0, corner)
        _line_to(points, points[-2], points[-1], x + rx, y + height)
        elliptic_arc(points, x + rx, y + height - ry, rx, ry, 1.0, 0.0, corner, corner)
        _line_to(points, points[-2], points[-1], x, y + ry)
        elliptic_arc(points, x + rx, y + ry, rx, ry, 1.0, 0.0, 2.0 * corner, corner)
        points[-2], points[-1] = points[0], points[1]
    else:
        _line_to(points, x, y, x + width, y)
        _line_to(points, x + width, y, x + width, y + height)
        _line_to(points, x + width, y + height, x, y + height)
        _line_to(points, x, y + height, x, y)
    return points, True


def ellipse_path(cx: float, cy: float, rx: float, ry: float) -> RawSubPath:
    """A closed ellipse starting at its rightmost point, clockwise in y-down coordinates."""
    points = [cx + rx, cy]
    elliptic_arc(points, cx, cy, rx, ry, 1.0, 0.0, 0.0, 2.0 * math.pi)
    points[-2], points[-1] = points[0], points[1]
    return points, True


def polyline_path(coordinates: list[float], closed: bool) -> RawSubPath | None:
    """Straight segments through the given points; None with fewer than two points."""
    if len(coordinates) < 4:
        return None
    points = [coordinates[0], coordinates[1]]
    for i in range(2, len(coordinates) - 1, 2):
        _line_to(points, coordinates[i - 2], coordinates[i - 1], coordinates[i], coordinates[i + 1])
    if closed and (coordinates[0] != points[-2] or coordinates[1] != points[-1]):
        _line_to(points, points[-2], points[-1], coordinates[0], coordinates[1])
    return points, closed


def segment_bounds(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tight per-segment bounds of cubics ``segments`` [M, 4, 2]: (lo [M, 2], hi [M, 2])."""
    p0, p1, p2, p3 = segments[:, 0], segments[:, 1], segments[:, 2], segments[:, 3]
    lo = np.minimum(p0, p3)
    hi = np.maximum(p0, p3)
    # Interior extrema where the derivative a·t² + b·t + c vanishes, per axis.
    a = -p0 + 3.0 * p1 - 3.0 * p2 + p3
    b = 2.0 * (p0 - 2.0 * p1 + p2)
    c = p1 - p0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        discriminant = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
        candidates = (
            (-b + discriminant) / (2.0 * a),
            (-b - discriminant) / (2.0 * a),
            np.where(np.abs(a) < 1e-12, -c / b, np.nan),
        )
    for t in candidates:
        t = np.where(np.isfinite(t) & (t > 0.0) & (t < 1.0), t, 0.0)
        mt = 1.0 - t
        value = mt**3 * p0 + 3.0 * mt * mt * t * p1 + 3.0 * mt * t * t * p2 + t**3 * p3
        lo = np.minimum(lo, value)
        hi = np.maximum(hi, value)
    return lo, hi


def cubic_bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    """Tight (x_min, y_min, x_max, y_max) of the cubic chain ``points`` [3·n + 1, 2]."""
    if len(points) < 4:
        return (
            float(points[:, 0].min()),
            float(points[:, 1].min()),
            float(points[:, 0].max()),
            float(points[:, 1].max()),
        )
    segments = np.stack([points[:-1:3], points[1::3], points[2::3], points[3::3]], axis=1)
    lo, hi = segment_bounds(segments)
    lo, hi = lo.min(axis=0), hi.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def shapes_bounds(shapes: list[Shape]) -> np.ndarray:
    """float64 [S, 4]: tight (x_min, y_min, x_max, y_max) per shape, widened by half its stroke."""
    segments = []
    owners = []
    for index, shape in enumerate(shapes):
        for subpath in shape.subpaths:
            points = subpath.points
            count = (len(points) - 1) // 3
            segments.append(np.stack([points[:-1:3], points[1::3], points[2::3], points[3::3]], axis=1))
            owners.append(np.full(count, index))
    lo, hi = segment_bounds(np.concatenate(segments))  # [M, 2] each
    owner = np.concatenate(owners)  # [M]
    bounds = np.empty((len(shapes), 4))
    bounds[:, :2] = np.inf
    bounds[:, 2:] = -np.inf
    np.minimum.at(bounds[:, 0], owner, lo[:, 0])
    np.minimum.at(bounds[:, 1], owner, lo[:, 1])
    np.maximum.at(bounds[:, 2], owner, hi[:, 0])
    np.maximum.at(bounds[:, 3], owner, hi[:, 1])
    half_widths = np.array([s.stroke.width / 2.0 if s.stroke is not None else 0.0 for s in shapes])
    bounds[:, :2] -= half_widths[:, None]
    bounds[:, 2:] += half_widths[:, None]
    # A clipped shape shows only inside its clip regions: their bounds cut its own.
    for index, shape in enumerate(shapes):
        for region in shape.clip or ():
            if region.subpaths:
                boxes = np.array([cubic_bounds(sp.points) for sp in region.subpaths])
                bounds[index, :2] = np.maximum(bounds[index, :2], boxes[:, :2].min(axis=0))
                bounds[index, 2:] = np.minimum(bounds[index, 2:], boxes[:, 2:].max(axis=0))
    return bounds


class ShapeGeometry:
    """The geometry of one document's shapes: each ``<path>``'s data parsed once, basic shapes
    built from their attributes, and every instantiated command or point counted against
    ``max_path_commands`` (a ``<use>`` of a path counts it again)."""

    def __init__(self, cascade: Cascade, log: WarningLog, *, clip: str, max_path_commands: int) -> None:
        self.cascade = cascade
        self.log = log
        self.clip = clip
        self.max_path_commands = max_path_commands
        self.path_commands = 0
        self._cache: dict[int, tuple[list[RawSubPath], int]] = {}

    def count_commands(self, commands: int, element: Element) -> None:
        """Add ``commands`` to the document's count; `SvgLimitExceeded` past the budget."""
        self.path_commands += commands
        if self.path_commands > self.max_path_commands:
            raise SvgLimitExceeded(
                f"more than max_path_commands={self.max_path_commands} path commands and points",
                limit="max_path_commands",
                clip=self.clip,
                element=element.describe(),
            )

    def subpaths(self, element: Element, lengths: LengthContext) -> list[RawSubPath]:
        """Untransformed subpaths of a basic shape or path in its user units (``lengths``
        resolves percentages and font-relative units); [] where it draws nothing."""
        tag = element.tag
        length = self.cascade.length
        if tag == "path":
            key = id(element)
            if key not in self._cache:
                budget = self.max_path_commands - self.path_commands
                try:
                    parsed = parse_path_data(
                        element.attrs.get("d", ""), clip=self.clip, element=element.describe(), max_commands=budget
                    )
                except CommandBudgetExceeded as exc:
                    self.count_commands(exc.commands + 1, element)
                    raise  # pragma: no cover - count_commands raised already
                except PathDataError as exc:
                    self.log.warn("path-data-error", f"{exc}; drawn up to the error", element)
                    parsed = (exc.partial, exc.commands)
                self._cache[key] = parsed
            subpaths, commands = self._cache[key]
            self.count_commands(commands, element)
            return subpaths
        if tag == "rect":
            x = length(element, "x", lengths, "x")
            y = length(element, "y", lengths, "y")
            width = length(element, "width", lengths, "x")
            height = length(element, "height", lengths, "y")
            if width <= 0 or height <= 0:
                return []
            rx_given = "rx" in element.attrs and element.attrs["rx"].strip() not in ("", "auto")
            ry_given = "ry" in element.attrs and element.attrs["ry"].strip() not in ("", "auto")
            rx = length(element, "rx", lengths, "x") if rx_given else 0.0
            ry = length(element, "ry", lengths, "y") if ry_given else 0.0
            if rx_given and not ry_given:
                ry = rx
            elif ry_given and not rx_given:
                rx = ry
            rx = min(max(rx, 0.0), width / 2.0)
            ry = min(max(ry, 0.0), height / 2.0)
            self.count_commands(4, element)
            return [rect_path(x, y, width, height, rx, ry)]
        if tag in ("circle", "ellipse"):
            cx = length(element, "cx", lengths, "x")
            cy = length(element, "cy", lengths, "y")
            if tag == "circle":
                rx = ry = length(element, "r", lengths, "other")
            else:
                rx = length(element, "rx", lengths, "x", -1.0)
                ry = length(element, "ry", lengths, "y", -1.0)
                if rx < 0 <= ry:
                    rx = ry
                elif ry < 0 <= rx:
                    ry = rx
            if rx <= 0 or ry <= 0:
                return []
            self.count_commands(4, element)
            return [ellipse_path(cx, cy, rx, ry)]
        if tag == "line":
            coordinates = [
                length(element, "x1", lengths, "x"),
                length(element, "y1", lengths, "y"),
                length(element, "x2", lengths, "x"),
                length(element, "y2", lengths, "y"),
            ]
            self.count_commands(2, element)
            path = polyline_path(coordinates, closed=False)
            return [path] if path else []
        # polyline / polygon
        coordinates = parse_numbers(
            element.attrs.get("points", ""), "points", clip=self.clip, element=element.describe()
        )
        if len(coordinates) % 2:
            self.log.warn("invalid-attribute", "odd number of coordinates in points; last one dropped", element)
            coordinates = coordinates[:-1]
        self.count_commands(len(coordinates) // 2, element)
        path = polyline_path(coordinates, closed=tag == "polygon")
        return [path] if path else []


def subpaths_bbox(raw_subpaths: list[RawSubPath]) -> tuple[float, float, float, float]:
    """Tight (x_min, y_min, x_max, y_max) of non-empty ``raw_subpaths`` in element user units,
    no stroke: the box objectBoundingBox gradients and patterns are laid on."""
    boxes = np.array([cubic_bounds(np.asarray(flat, dtype=np.float64).reshape(-1, 2)) for flat, _ in raw_subpaths])
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )


def is_similarity(ctm: tuple[float, float, float, float, float, float]) -> bool:
    """Whether the affine ``ctm`` scales every direction alike (rotation, uniform scale,
    reflection, translation): then a stroke's width maps to width · sqrt|det| everywhere."""
    a, b, c, d, _, _ = ctm
    size = max(abs(a), abs(b), abs(c), abs(d))
    return abs((a * a + b * b) - (c * c + d * d)) <= 1e-9 * size * size and abs(a * c + b * d) <= 1e-9 * size * size


def line_stroke_outline(
    start: tuple[float, float],
    end: tuple[float, float],
    width: float,
    linecap: str,
    dashes: tuple[float, ...] = (),
    dash_offset: float = 0.0,
    max_dashes: int = 1_000_000,
) -> list[RawSubPath]:
    """The painted area of a ``<line>``'s stroke, in its user units: one closed outline per dash
    (the whole line when ``dashes`` is empty), each with its caps (butt, square or round), all
    oriented alike so the non-zero rule fills their union. Drawn as a fill under the CTM it is
    the exact stroke under any affine map, a skew or a non-uniform scale included, which a
    stroke width cannot express. ``dashes`` (even length, sum > 0) and ``dash_offset`` are in
    user units, as SVG lays them along the line; past ``max_dashes`` dashes,
    `CommandBudgetExceeded`."""
    x0, y0 = start
    length = math.hypot(end[0] - x0, end[1] - y0)
    half = width / 2.0
    if length == 0.0:
        # A zero-length line: its caps only, axis-aligned (SVG 2 §13.5.6).
        if linecap == "round":
            return [ellipse_path(x0, y0, half, half)]
        if linecap == "square":
            return [rect_path(x0 - half, y0 - half, width, width, 0.0, 0.0)]
        return []
    ux, uy = (end[0] - x0) / length, (end[1] - y0) / length
    intervals = [(0.0, length)]
    if dashes:
        period = sum(dashes)
        intervals = []
        position = -(dash_offset % period)
        index = 0
        while position < length:
            dash_end = position + dashes[index % len(dashes)]
            a, b = max(position, 0.0), min(dash_end, length)
            if index % 2 == 0 and (b > a or (b == a and linecap != "butt")):
                intervals.append((a, b))
                if len(intervals) > max_dashes:
                    raise CommandBudgetExceeded(len(intervals))
            position = dash_end
            index += 1
    outlines = []
    nx, ny = -uy * half, ux * half  # the left normal, half a width long
    normal_angle = math.atan2(ux, -uy)
    for a, b in intervals:
        if linecap == "square":
            a, b = a - half, b + half
        px, py = x0 + ux * a, y0 + uy * a
        qx, qy = x0 + ux * b, y0 + uy * b
        points = [px + nx, py + ny]
        _line_to(points, px + nx, py + ny, qx + nx, qy + ny)
        if linecap == "round":
            elliptic_arc(points, qx, qy, half, half, 1.0, 0.0, normal_angle, -math.pi)
            points[-2], points[-1] = qx - nx, qy - ny
        else:
            _line_to(points, qx + nx, qy + ny, qx - nx, qy - ny)
        _line_to(points, qx - nx, qy - ny, px - nx, py - ny)
        if linecap == "round":
            elliptic_arc(points, px, py, half, half, 1.0, 0.0, normal_angle + math.pi, -math.pi)
        else:
            _line_to(points, px - nx, py - ny, px + nx, py + ny)
        points[-2], points[-1] = points[0], points[1]
        outlines.append((points, True))
    return outlines
