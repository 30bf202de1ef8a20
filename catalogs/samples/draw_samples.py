"""Draws the bundled sample clipart (``*.svg``) and writes ``samples.json``.

The drawings were designed for this project: each is a list of hand-placed outline points per
part, turned into SVG text here. Keypoints are derived from the same coordinates as the
drawing, so they stay consistent when a drawing is edited. Run from the repository root:

    python catalogs/samples/draw_samples.py

Each file deliberately uses a different mix of SVG features (see README.md) so that together
they exercise the parser: groups with nested transforms, ``<use>`` + ``<defs>``, arcs, relative
and shorthand path commands, basic shapes, ``style=`` and ``<style>`` rules, opacity, evenodd
holes, stroke-only line art, and a viewBox that differs from width/height.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent

Point = tuple[float, float]

HUMAN_KEYPOINT_NAMES = (
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
"""AniClipart's 13 human keypoints, in this order. left/right are the figure's own sides (a
figure facing the viewer has its left side on the image's right), as in COCO."""

HUMAN_SKELETON = (
    (0, 1),
    (0, 2),  # head to shoulders
    (1, 2),  # shoulder line
    (1, 3),
    (3, 5),  # left arm
    (2, 4),
    (4, 6),  # right arm
    (1, 7),
    (2, 8),  # torso sides
    (7, 8),  # hip line
    (7, 9),
    (9, 11),  # left leg
    (8, 10),
    (10, 12),  # right leg
)
"""The 14 bones between the 13 keypoints."""


def num(value: float) -> str:
    """A coordinate with at most one decimal, without trailing zeros."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def pt(p: Point) -> str:
    return f"{num(p[0])},{num(p[1])}"


def catmull_rom(points: Sequence[Point], closed: bool) -> list[tuple[Point, Point, Point]]:
    """Cubic segments (c1, c2, end) of the uniform Catmull-Rom spline through ``points``."""
    n = len(points)
    segments = []
    count = n if closed else n - 1
    for i in range(count):
        p0 = points[(i - 1) % n] if closed or i > 0 else points[0]
        p1 = points[i]
        p2 = points[(i + 1) % n]
        p3 = points[(i + 2) % n] if closed or i + 2 < n else points[-1]
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        segments.append((c1, c2, p2))
    return segments


def smooth_path(points: Sequence[Point], *, closed: bool = True, style: str = "abs") -> str:
    """Path data of a smooth curve through ``points``.

    style: ``abs`` (M/C), ``rel`` (m/c) or ``short`` (M/C then S: Catmull-Rom handles are
    mirror images at every joint, so the shorthand reproduces the same curve).
    """
    segments = catmull_rom(points, closed)
    start = points[0]
    if style == "rel":
        parts = [f"m{pt(start)}"]
        current = start
        for c1, c2, end in segments:
            rel = [(q[0] - current[0], q[1] - current[1]) for q in (c1, c2, end)]
            parts.append("c" + " ".join(pt(q) for q in rel))
            current = end
    else:
        parts = [f"M{pt(start)}"]
        for index, (c1, c2, end) in enumerate(segments):
            if style == "short" and index > 0:
                parts.append(f"S{pt(c2)} {pt(end)}")
            else:
                parts.append(f"C{pt(c1)} {pt(c2)} {pt(end)}")
    if closed:
        parts.append("z" if style == "rel" else "Z")
    return " ".join(parts)


def limb_outline(a: Point, b: Point, radius_a: float, radius_b: float) -> list[Point]:
    """Outline points of a tapered capsule from ``a`` to ``b`` (a limb), for `smooth_path`."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux

    def side(t: float, sign: float, bulge: float) -> Point:
        radius = (radius_a + (radius_b - radius_a) * t) * bulge
        return (a[0] + dx * t + sign * nx * radius, a[1] + dy * t + sign * ny * radius)

    return [
        side(0.0, 1, 1.0),
        side(0.3, 1, 1.03),
        side(0.7, 1, 1.03),
        side(1.0, 1, 1.0),
        (b[0] + (ux + nx) * radius_b * 0.62, b[1] + (uy + ny) * radius_b * 0.62),
        (b[0] + ux * radius_b * 0.9, b[1] + uy * radius_b * 0.9),
        (b[0] + (ux - nx) * radius_b * 0.62, b[1] + (uy - ny) * radius_b * 0.62),
        side(1.0, -1, 1.0),
        side(0.7, -1, 1.03),
        side(0.3, -1, 1.03),
        side(0.0, -1, 1.0),
        (a[0] - ux * radius_a * 0.9, a[1] - uy * radius_a * 0.9),
    ]


def shifted(points: Sequence[Point], offset: Point) -> list[Point]:
    """``points`` expressed in a group translated by ``offset``."""
    return [(x - offset[0], y - offset[1]) for x, y in points]


def mirror_x(points: Sequence[Point], axis: float) -> list[Point]:
    return [(2 * axis - x, y) for x, y in points]


def write(name: str, text: str) -> None:
    (HERE / name).write_text(text.strip() + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# human.svg — a standing person, arms held out; <style> classes, nested translated groups.


def draw_human() -> dict:
    keypoints: list[Point] = [
        (100, 50),  # head
        (131, 104),  # left shoulder (image right)
        (69, 104),  # right shoulder
        (151, 158),  # left elbow
        (49, 158),  # right elbow
        (168, 206),  # left wrist
        (32, 206),  # right wrist
        (116, 214),  # left hip
        (84, 214),  # right hip
        (119, 284),  # left knee
        (81, 284),  # right knee
        (121, 352),  # left ankle
        (79, 352),  # right ankle
    ]
    k = dict(zip(HUMAN_KEYPOINT_NAMES, keypoints))
    upper_body = (0.0, 0.0)
    arms = (0.0, 96.0)  # the arm groups are translated to shoulder height
    legs = (100.0, 200.0)  # legs group origin: the middle of the waist

    hair = [
        (74, 46),
        (72, 28),
        (84, 14),
        (102, 10),
        (120, 15),
        (130, 30),
        (128, 48),
        (124, 38),
        (118, 32),
        (114, 36),
        (108, 29),
        (100, 33),
        (92, 29),
        (86, 34),
        (80, 38),
    ]
    face = [(100, 20), (118, 26), (126, 46), (122, 66), (110, 79), (100, 82), (90, 79), (78, 66), (74, 46), (82, 26)]
    shirt = [
        (88, 92),
        (100, 99),
        (112, 92),
        (130, 97),
        (140, 110),
        (139, 130),
        (131, 132),
        (131, 166),
        (133, 204),
        (100, 208),
        (67, 204),
        (69, 166),
        (69, 132),
        (61, 130),
        (60, 110),
        (70, 97),
    ]
    collar = [(88, 91), (100, 106), (112, 91), (106, 97), (100, 100), (94, 97)]
    right_sleeve = limb_outline(k["right_shoulder"], (56, 136), 13, 12)
    right_forearm = limb_outline((58, 134), k["right_wrist"], 9, 7)
    left_sleeve = limb_outline(k["left_shoulder"], (144, 136), 13, 12)
    left_forearm = limb_outline((142, 134), k["left_wrist"], 9, 7)
    pants_top = [(-34, 2), (0, 6), (34, 2), (36, 22), (26, 34), (0, 28), (-26, 34), (-36, 22)]
    right_leg = [
        (-35, 12),
        (-20, 20),
        (-6, 22),
        (-7, 40),
        (-8, 60),
        (-8.5, 80),
        (-9, 100),
        (-9.5, 125),
        (-10, 150),
        (-18, 152),
        (-26, 152),
        (-27.5, 125),
        (-29, 100),
        (-30.5, 80),
        (-32, 60),
        (-33.5, 36),
    ]
    left_leg = mirror_x(right_leg, 0)
    right_shoe = [
        (-12, 146),
        (-9, 152),
        (-10, 158),
        (-16, 163),
        (-24, 164),
        (-34, 164),
        (-41, 162),
        (-44, 156),
        (-40, 150),
        (-34, 147),
        (-22, 146),
    ]
    left_shoe = mirror_x(right_shoe, 0)
    mouth = [(90, 64), (100, 70), (110, 64)]

    def arm_group(side: str, sleeve: list[Point], forearm: list[Point], hand: Point) -> str:
        return f"""
    <g id="{side}-arm" transform="translate({num(arms[0])},{num(arms[1])})">
      <path class="skin" d="{smooth_path(shifted(forearm, arms), style="short")}"/>
      <circle class="skin" cx="{num(hand[0] - arms[0])}" cy="{num(hand[1] - arms[1])}" r="9.5"/>
      <path class="shirt" d="{smooth_path(shifted(sleeve, arms), style="short")}"/>
    </g>"""

    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="150" height="300" viewBox="0 0 200 400">
  <title>Standing person</title>
  <style>
    .skin {{ fill: #f1c27d; }}
    .hair {{ fill: #5b3a1e; }}
    .shirt {{ fill: #e4572e; }}
    .collar {{ fill: #b83d1b; }}
    .pants {{ fill: #2e4a7d; }}
    .shoe {{ fill: #2b2b2b; }}
    .feature {{ fill: none; stroke: #5b3a1e; stroke-width: 2.5; stroke-linecap: round; }}
  </style>
  <g id="person" transform="translate({num(upper_body[0])},{num(upper_body[1])})">
    <g id="legs" transform="translate({num(legs[0])},{num(legs[1])})">
      <path class="pants" d="{smooth_path(right_leg)}"/>
      <path class="pants" d="{smooth_path(left_leg)}"/>
      <path class="shoe" d="{smooth_path(right_shoe)}"/>
      <path class="shoe" d="{smooth_path(left_shoe)}"/>
      <path class="pants" d="{smooth_path(pants_top)}"/>
    </g>
    <rect class="skin" x="91" y="74" width="18" height="24" rx="4"/>
    <path class="shirt" d="{smooth_path(shirt)}"/>
    <path class="collar" d="{smooth_path(collar)}"/>
    <rect x="68" y="196" width="64" height="8" rx="2" style="fill:#3b2a1a"/>
    {arm_group("right", right_sleeve, right_forearm, (30, 214))}
    {arm_group("left", left_sleeve, left_forearm, (170, 214))}
    <g id="head">
      <ellipse class="skin" cx="74" cy="52" rx="5" ry="8"/>
      <ellipse class="skin" cx="126" cy="52" rx="5" ry="8"/>
      <path class="skin" d="{smooth_path(face)}"/>
      <path class="hair" d="{smooth_path(hair)}"/>
      <circle cx="90" cy="50" r="3.2" fill="#2b2b2b"/>
      <circle cx="110" cy="50" r="3.2" fill="#2b2b2b"/>
      <path class="feature" d="M{pt(mouth[0])} Q{pt(mouth[1])} {pt(mouth[2])}"/>
      <path class="feature" d="M100,54 l-3,7 h5" style="stroke-width:1.8"/>
      <circle cx="84" cy="62" r="4.5" fill="#e36b5d" opacity="0.45"/>
      <circle cx="116" cy="62" r="4.5" fill="#e36b5d" opacity="0.45"/>
    </g>
  </g>
</svg>"""
    write("human.svg", text)
    return {
        "clip_id": "human",
        "svg": "human.svg",
        "prompt": "A person is dancing, waving both arms",
        "keypoints": [list(p) for p in keypoints],
        "skeleton": [list(b) for b in HUMAN_SKELETON],
    }


# --------------------------------------------------------------------------------------------
# animal.svg — a standing tabby cat; style= attributes, relative/shorthand commands, Q/T tail,
# polygons, ellipses, lines, group opacity.


def draw_animal() -> dict:
    body = [
        (72, 112),
        (86, 88),
        (130, 80),
        (185, 84),
        (222, 92),
        (236, 115),
        (228, 142),
        (200, 152),
        (150, 151),
        (100, 150),
        (76, 136),
    ]
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="480" height="330" viewBox="0 0 320 220">
  <g id="cat" style="stroke:none">
    <path id="tail" style="fill:#e8912e" d="M78,104 Q40,104 34,74 T44,22 Q50,14 56,20 Q48,40 50,64 T84,92 Z"/>
    <g id="far-legs" style="fill:#c9731f">
      <path d="m104,128 l3,64 c0,5 2,8 8,8 h5 c5,0 6,-4 5,-8 l-2,-64 z"/>
      <path d="m182,130 l-1,62 c0,5 2,8 8,8 h5 c5,0 6,-4 5,-8 l1,-62 z"/>
    </g>
    <path id="body" style="fill:#f4a340" d="{smooth_path(body, style="rel")}"/>
    <ellipse cx="222" cy="122" rx="10" ry="18" style="fill:#fbd59a" transform="rotate(-15 222 122)"/>
    <g id="near-legs" style="fill:#f4a340">
      <path d="m84,116 c-10,20 -6,40 0,52 l4,24 c1,6 4,8 10,8 h8 c5,0 6,-4 5,-8 l-6,-24 c8,-16 10,-32 4,-50 z"/>
      <path d="m198,126 l4,66 c0,6 3,9 9,9 h8 c6,0 7,-5 6,-9 l-4,-68 z"/>
      <path d="M90,196 v-6 M98,196 v-6 M206,196 v-6 M214,196 v-6" style="fill:none;stroke:#c9731f;stroke-width:1.5;stroke-linecap:round"/>
    </g>
    <g id="stripes" opacity="0.7" style="fill:#c4661a">
      <path d="M118,82 q7,12 2,28 q-8,-12 -9,-26 z"/>
      <path d="M146,80 q7,12 3,30 q-8,-13 -9,-29 z"/>
      <path d="M174,82 q7,12 3,28 t-3,-2 q-6,-12 -6,-25 z"/>
      <path d="M88,92 q12,4 12,20 q-10,-6 -16,-12 z"/>
    </g>
    <g id="head">
      <polygon points="214,66 220,26 244,50" style="fill:#f4a340"/>
      <polygon points="248,48 274,26 278,66" style="fill:#f4a340"/>
      <polygon points="220,56 223,36 236,50" style="fill:#f7a8a8"/>
      <polygon points="256,48 271,37 272,58" style="fill:#f7a8a8"/>
      <circle cx="246" cy="78" r="34" style="fill:#f4a340"/>
      <path d="M230,46 q6,-4 8,8 M246,44 v12 M262,46 q-6,-4 -8,8" style="fill:none;stroke:#c4661a;stroke-width:3;stroke-linecap:round"/>
      <ellipse cx="246" cy="95" rx="14" ry="9" style="fill:#fbd59a"/>
      <ellipse cx="234" cy="74" rx="4.5" ry="6.5" style="fill:#2f3b1f"/>
      <ellipse cx="258" cy="74" rx="4.5" ry="6.5" style="fill:#2f3b1f"/>
      <circle cx="235.5" cy="71.5" r="1.6" style="fill:#ffffff"/>
      <circle cx="259.5" cy="71.5" r="1.6" style="fill:#ffffff"/>
      <polygon points="242,87 250,87 246,92" style="fill:#d8646a"/>
      <path d="M246,92 q-3,6 -8,3 M246,92 q3,6 8,3" style="fill:none;stroke:#7a3b1a;stroke-width:1.5;stroke-linecap:round"/>
      <g style="stroke:#6b4a2a;stroke-width:1.2;stroke-linecap:round">
        <line x1="230" y1="92" x2="206" y2="88"/>
        <line x1="230" y1="96" x2="205" y2="98"/>
        <line x1="262" y1="92" x2="286" y2="88"/>
        <line x1="262" y1="96" x2="287" y2="98"/>
      </g>
    </g>
  </g>
</svg>"""
    write("animal.svg", text)
    return {
        "clip_id": "animal",
        "svg": "animal.svg",
        "prompt": "A cat is walking forward, swishing its tail",
    }


# --------------------------------------------------------------------------------------------
# plant.svg — a potted flower; <defs> + <use> (href and xlink:href) with rotate/scale
# transforms, a stroked stem, polygon + rect pot.


def draw_plant() -> dict:
    petals = "\n".join(
        f'      <use xlink:href="#petal" transform="translate(50,40) rotate({angle})"/>' for angle in range(0, 360, 45)
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="200" height="320" viewBox="0 0 100 160">
  <defs>
    <path id="petal" d="M0,0 C-8,-5 -9,-19 0,-25 C9,-19 8,-5 0,0 Z"/>
    <g id="leaf">
      <path d="M0,0 C6,-9 20,-11 31,-4 C20,4 8,6 0,0 Z" fill="#4caf50"/>
      <path d="M2,-1 Q15,-4 27,-4" fill="none" stroke="#2e7d32" stroke-width="1" stroke-linecap="round"/>
    </g>
  </defs>
  <path id="stem" d="M50,48 C45,72 55,96 50,118" fill="none" stroke="#388e3c" stroke-width="3.5" stroke-linecap="round"/>
  <use href="#leaf" transform="translate(50,84) rotate(-28)"/>
  <use xlink:href="#leaf" transform="translate(51,98) scale(-1,1) rotate(-24)"/>
  <use href="#leaf" transform="translate(50,110) rotate(-12) scale(0.7)"/>
  <g id="flower" fill="#ec5f8c">
{petals}
    <circle cx="50" cy="40" r="8.5" fill="#ffca28"/>
    <circle cx="47" cy="37.5" r="1.3" fill="#f57f17"/>
    <circle cx="53" cy="38.5" r="1.3" fill="#f57f17"/>
    <circle cx="49.5" cy="43" r="1.3" fill="#f57f17"/>
  </g>
  <g id="pot">
    <polygon points="33,120 67,120 63,153 37,153" fill="#c8693c"/>
    <polygon points="58,120 67,120 63,153 56,153" fill="#8d4423" fill-opacity="0.5"/>
    <rect x="29" y="113" width="42" height="10" rx="2" ry="2" fill="#d97b4a"/>
  </g>
</svg>"""
    write("plant.svg", text)
    return {
        "clip_id": "plant",
        "svg": "plant.svg",
        "prompt": "A flower sways gently in the breeze",
    }


# --------------------------------------------------------------------------------------------
# object.svg — a teapot; elliptical arcs (absolute and relative), the one linear gradient of the
# set, a viewBox without width/height.


def draw_object() -> dict:
    text = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 180">
  <defs>
    <linearGradient id="glaze" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#6cc0e5"/>
      <stop offset="1" stop-color="#2f83b5"/>
    </linearGradient>
  </defs>
  <g id="teapot">
    <path id="handle" fill="#2f83b5" fill-rule="evenodd"
          d="M66,98 A24,24 0 1 0 62,142 L68,131 A14,14 0 1 1 68,109 Z"/>
    <path id="spout" fill="#3f95c6" d="M155,108 C178,112 188,98 199,76 L207,81 C193,108 188,140 156,146 Z"/>
    <path id="body" fill="url(#glaze)" d="M56,138 A56,52 0 1 1 164,138 A12,12 0 0 1 152,154 H68 A12,12 0 0 1 56,138 Z"/>
    <path id="band" fill="#ffffff" opacity="0.35" d="M58,116 Q110,126 162,116 L163,128 Q110,138 57,128 Z"/>
    <circle cx="88" cy="98" r="5" fill="#ffffff" opacity="0.5"/>
    <rect x="74" y="150" width="72" height="9" rx="3" fill="#245f86"/>
    <path id="lid" fill="#3f95c6" d="M84,74 a26,16 0 0 1 52,0 z"/>
    <ellipse cx="110" cy="74" rx="32" ry="6" fill="#245f86"/>
    <circle cx="110" cy="57" r="7" fill="#245f86"/>
  </g>
</svg>"""
    write("object.svg", text)
    return {
        "clip_id": "object",
        "svg": "object.svg",
        "prompt": "A teapot tilts forward and pours tea, then straightens up",
    }


# --------------------------------------------------------------------------------------------
# two_characters.svg — two children standing apart (two disconnected components); nested group
# transforms (translate, scale, rotate about a point), shared <defs> reused with <use>.


def draw_two_characters() -> dict:
    text = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="600" height="480" viewBox="0 0 300 240">
  <defs>
    <g id="face">
      <circle cx="-8" cy="-2" r="2.6" fill="#263238"/>
      <circle cx="8" cy="-2" r="2.6" fill="#263238"/>
      <path d="M-7,8 q7,6 14,0" fill="none" stroke="#263238" stroke-width="2" stroke-linecap="round"/>
    </g>
    <rect id="limb" x="-4.5" y="0" width="9" height="44" rx="4.5"/>
  </defs>
  <g id="girl" transform="translate(80,22)">
    <g id="girl-legs" fill="#f0b27a">
      <use xlink:href="#limb" transform="translate(-10,128) scale(1,1.05)"/>
      <use xlink:href="#limb" transform="translate(10,128) scale(1,1.05)"/>
    </g>
    <ellipse cx="-13" cy="176" rx="10" ry="5" fill="#8e24aa"/>
    <ellipse cx="13" cy="176" rx="10" ry="5" fill="#8e24aa"/>
    <g id="girl-arms" fill="#f0b27a">
      <use xlink:href="#limb" transform="rotate(35 -14 78) translate(-14,78)"/>
      <use xlink:href="#limb" transform="rotate(-35 14 78) translate(14,78)"/>
    </g>
    <circle cx="-40" cy="116" r="6.5" fill="#f0b27a"/>
    <circle cx="40" cy="116" r="6.5" fill="#f0b27a"/>
    <polygon points="-13,68 13,68 34,138 -34,138" fill="#ab47bc"/>
    <rect x="-6" y="58" width="12" height="14" fill="#f0b27a"/>
    <circle cx="-27" cy="34" r="10" fill="#6d4c41"/>
    <circle cx="27" cy="34" r="10" fill="#6d4c41"/>
    <circle cx="0" cy="40" r="24" fill="#f0b27a"/>
    <path d="M-24,40 C-26,18 -10,12 0,12 C12,12 26,18 24,40 C18,28 8,24 -2,26 C-12,26 -18,32 -24,40 Z" fill="#6d4c41"/>
    <use xlink:href="#face" x="0" y="44"/>
  </g>
  <g id="boy" transform="translate(215,14) scale(1.1)">
    <g fill="#c68642">
      <use href="#limb" transform="translate(-9,122)"/>
      <use href="#limb" transform="translate(9,122)"/>
      <use href="#limb" transform="rotate(150 -18 76) translate(-18,76)"/>
      <use href="#limb" transform="rotate(-30 18 76) translate(18,76)"/>
    </g>
    <circle cx="-40" cy="42" r="7" fill="#c68642"/>
    <circle cx="40" cy="118" r="7" fill="#c68642"/>
    <rect x="-21" y="112" width="42" height="26" rx="4" fill="#1565c0"/>
    <rect x="-20" y="66" width="40" height="52" rx="8" fill="#43a047"/>
    <path d="M-20,84 h40 v8 h-40 z M-20,100 h40 v8 h-40 z" fill="#2e7d32"/>
    <rect x="-6" y="56" width="12" height="12" fill="#c68642"/>
    <path d="M-18,166 q0,-6 6,-6 h10 q6,0 6,8 h-22 z M-4,166 q0,-6 6,-6 h10 q6,0 6,8 h-22 z" fill="#263238" transform="translate(0,-2)"/>
    <circle cx="0" cy="38" r="23" fill="#c68642"/>
    <polygon points="-23,34 -20,18 -14,22 -8,12 -2,19 5,10 10,19 17,14 20,24 24,32 12,24 -8,24" fill="#212121"/>
    <use href="#face" transform="translate(0,42)"/>
  </g>
</svg>"""
    write("two_characters.svg", text)
    return {
        "clip_id": "two_characters",
        "svg": "two_characters.svg",
        "prompt": "Two children jump up and down, waving their arms",
    }


# --------------------------------------------------------------------------------------------
# layers.svg — a person whose right arm is its own group, drawn in front of the torso (the
# forearm crosses the chest); fill + stroke outlines, a viewBox with a non-zero origin.


def draw_layers() -> dict:
    keypoints: list[Point] = [
        (60, 40),  # head
        (82, 88),  # left shoulder
        (38, 88),  # right shoulder
        (95, 130),  # left elbow
        (24, 134),  # right elbow
        (102, 172),  # left wrist
        (64, 150),  # right wrist (over the chest)
        (71, 172),  # left hip
        (49, 172),  # right hip
        (73, 222),  # left knee
        (47, 222),  # right knee
        (75, 268),  # left ankle
        (45, 268),  # right ankle
    ]
    k = dict(zip(HUMAN_KEYPOINT_NAMES, keypoints))
    torso = [
        (50, 78),
        (60, 82),
        (70, 78),
        (84, 82),
        (90, 96),
        (86, 120),
        (84, 150),
        (86, 178),
        (60, 182),
        (34, 178),
        (36, 150),
        (34, 120),
        (30, 96),
        (36, 82),
    ]
    hair = [(36, 40), (38, 20), (52, 10), (70, 11), (83, 22), (85, 40), (78, 28), (62, 24), (46, 28)]
    outline = 'stroke="#263238" stroke-width="2" stroke-linejoin="round"'
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="320" height="600" viewBox="-20 0 160 300">
  <g id="body">
    <path fill="#37474f" {outline} d="{smooth_path(limb_outline(k["right_hip"], k["right_ankle"], 10, 7), style="rel")}"/>
    <path fill="#37474f" {outline} d="{smooth_path(limb_outline(k["left_hip"], k["left_ankle"], 10, 7), style="rel")}"/>
    <path fill="#6d4c41" {outline} d="M30,266 h18 a6,6 0 0 1 6,6 v4 h-30 c0,-6 1,-10 6,-10 z"/>
    <path fill="#6d4c41" {outline} d="M90,266 h-18 a6,6 0 0 0 -6,6 v4 h30 c0,-6 -1,-10 -6,-10 z"/>
    <rect x="53" y="62" width="14" height="20" fill="#ffcc80" {outline}/>
    <path fill="#ffcc80" {outline} d="{smooth_path(limb_outline((92, 128), k["left_wrist"], 6, 5), style="rel")}"/>
    <circle cx="{num(k["left_wrist"][0] + 1)}" cy="{num(k["left_wrist"][1] + 6)}" r="7" fill="#ffcc80" {outline}/>
    <path fill="#26a69a" {outline} d="{smooth_path(limb_outline(k["left_shoulder"], (93, 126), 10, 8), style="rel")}"/>
    <path fill="#26a69a" {outline} d="{smooth_path(torso, style="short")}"/>
    <ellipse cx="60" cy="42" rx="23" ry="26" fill="#ffcc80" {outline}/>
    <path fill="#4e342e" d="{smooth_path(hair, style="short")}"/>
    <circle cx="52" cy="44" r="2.5" fill="#263238"/>
    <circle cx="68" cy="44" r="2.5" fill="#263238"/>
    <path d="M53,55 Q60,60 67,55" fill="none" stroke="#263238" stroke-width="2" stroke-linecap="round"/>
  </g>
  <g id="arm-layer">
    <path fill="#ffcc80" {outline} d="{smooth_path(limb_outline((27, 130), k["right_wrist"], 6, 5), style="rel")}"/>
    <circle cx="{num(k["right_wrist"][0] + 5)}" cy="{num(k["right_wrist"][1] + 1)}" r="7" fill="#ffcc80" {outline}/>
    <path fill="#26a69a" {outline} d="{smooth_path(limb_outline(k["right_shoulder"], (26, 128), 10, 8), style="rel")}"/>
  </g>
</svg>"""
    write("layers.svg", text)
    return {
        "clip_id": "layers",
        "svg": "layers.svg",
        "prompt": "A person raises the hand resting on the chest and waves hello",
        "keypoints": [list(p) for p in keypoints],
        "skeleton": [list(b) for b in HUMAN_SKELETON],
        "layers": [
            {"name": "body", "groups": ["body"], "keypoints": [0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12]},
            {"name": "arm", "groups": ["arm-layer"], "keypoints": [2, 4, 6]},
        ],
    }


# --------------------------------------------------------------------------------------------
# strokes.svg — line art: a jumping stick figure drawn only with strokes (no fill), round caps
# and joins, several widths; polyline, line, circle and arc path data.


def draw_strokes() -> dict:
    text = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300" viewBox="0 0 200 200">
  <g id="stick-figure" fill="none" stroke="#1a237e" stroke-linecap="round" stroke-linejoin="round">
    <polyline id="legs" points="66,176 80,148 100,122 118,148 138,170" stroke-width="5"/>
    <line x1="66" y1="176" x2="56" y2="174" stroke-width="5"/>
    <line x1="138" y1="170" x2="148" y2="172" stroke-width="5"/>
    <path id="spine" d="M100,60 C98,80 102,102 100,122" stroke-width="6"/>
    <polyline id="arms" points="58,26 74,56 100,72 126,56 142,26" stroke-width="5"/>
    <circle cx="56" cy="21" r="5" stroke-width="3"/>
    <circle cx="144" cy="21" r="5" stroke-width="3"/>
    <circle id="head" cx="100" cy="41" r="17" stroke-width="4.5"/>
    <path d="M92,36 v4 M108,36 v4" stroke-width="3"/>
    <path d="M91,47 a9.5,8 0 0 0 18,0" stroke-width="2.5"/>
    <path d="M90,26 q4,-8 8,-2 q4,-8 8,0 q4,-7 7,1" stroke-width="1.8"/>
    <path id="scarf" d="M88,62 Q100,68 112,62 M104,65 l10,14 l6,-3" stroke="#e53935" stroke-width="4"/>
  </g>
</svg>"""
    write("strokes.svg", text)
    return {
        "clip_id": "strokes",
        "svg": "strokes.svg",
        "prompt": "A stick figure jumps for joy with both arms raised",
    }


# --------------------------------------------------------------------------------------------
# holes.svg — a small car: the body's windows and the tyres are holes (fill-rule="evenodd",
# several subpaths in one path); clip-free, gradient-free.


def ring(cx: float, cy: float, outer: float, inner: float) -> str:
    """Path data of an annulus as two arc circles (evenodd makes the inner one a hole)."""
    return (
        f"M{num(cx - outer)},{num(cy)} A{num(outer)},{num(outer)} 0 1 0 {num(cx + outer)},{num(cy)} "
        f"A{num(outer)},{num(outer)} 0 1 0 {num(cx - outer)},{num(cy)} Z "
        f"M{num(cx - inner)},{num(cy)} a{num(inner)},{num(inner)} 0 1 1 {num(2 * inner)},0 "
        f"a{num(inner)},{num(inner)} 0 1 1 {num(-2 * inner)},0 z"
    )


def draw_holes() -> dict:
    body = (
        # outline with wheel arches cut in, then the two windows as inner subpaths
        "M22,118 C20,100 28,92 48,90 L86,86 L108,58 C112,53 118,50 126,50 L196,50 "
        "C206,50 212,54 218,62 L238,88 C262,90 280,96 282,110 L282,122 C282,128 278,130 272,130 "
        "L250,130 A24,24 0 0 0 202,130 L104,130 A24,24 0 0 0 56,130 L30,130 C25,130 22,126 22,118 Z "
        "M112,86 L128,60 L158,60 L158,86 Z "
        "M168,86 L168,60 L196,60 C202,60 206,62 210,68 L222,86 Z"
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="300" height="160" viewBox="0 0 300 160">
  <g id="car">
    <path id="car-body" d="{body}" fill="#f9a825" fill-rule="evenodd"/>
    <path d="M163,62 V128" stroke="#c17900" stroke-width="2" fill="none"/>
    <path d="M176,98 h10" stroke="#c17900" stroke-width="3" stroke-linecap="round" fill="none"/>
    <rect x="268" y="100" width="12" height="8" rx="3" fill="#fff59d"/>
    <rect x="22" y="104" width="10" height="8" rx="2" fill="#e53935"/>
    <g id="wheels" fill-rule="evenodd">
      <path id="front-tyre" d="{ring(226, 132, 20, 11)}" fill="#263238"/>
      <path id="rear-tyre" d="{ring(80, 132, 20, 11)}" fill="#263238"/>
      <path d="{ring(226, 132, 9, 4)}" fill="#b0bec5"/>
      <path d="{ring(80, 132, 9, 4)}" fill="#b0bec5"/>
    </g>
  </g>
</svg>"""
    write("holes.svg", text)
    return {
        "clip_id": "holes",
        "svg": "holes.svg",
        "prompt": "A small car drives forward, bouncing on its wheels",
    }


def format_catalog(entries: list[dict]) -> str:
    """JSON with one line per entry field, so coordinate lists stay readable."""
    lines = ["["]
    for index, entry in enumerate(entries):
        fields = [f"    {json.dumps(key)}: {json.dumps(value)}" for key, value in entry.items()]
        lines.append("  {\n" + ",\n".join(fields) + "\n  }" + ("," if index < len(entries) - 1 else ""))
    lines.append("]")
    return "\n".join(lines) + "\n"


def main() -> None:
    entries = [
        draw_human(),
        draw_animal(),
        draw_plant(),
        draw_object(),
        draw_two_characters(),
        draw_layers(),
        draw_strokes(),
        draw_holes(),
    ]
    (HERE / "samples.json").write_text(format_catalog(entries), encoding="utf-8")


if __name__ == "__main__":
    main()
