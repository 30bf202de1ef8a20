"""What an export writes: `ExportConfig` (sizes, timing, background, formats) and named profiles.

The config is the one description of an export; the CLI options of ``animate`` and a catalog
row's ``export`` overrides are both applied through `ExportConfig.with_overrides`, which
validates every field the same way.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from flexiclip_core.errors import ConfigError
from flexiclip_core.export.files import check_fps
from flexiclip_core.export.images import PosterChoice
from flexiclip_core.export.svg_anim import SvgCalcMode
from flexiclip_core.output_kinds import export_kinds

OUTPUT_NAMES: dict[str, str] = {kind.name: kind.file_name for kind in export_kinds()}
"""File (or folder) name of each output kind inside an export folder (from `OUTPUT_KINDS`)."""

FORMATS: tuple[str, ...] = tuple(OUTPUT_NAMES)
"""Every output kind an export can write (from `OUTPUT_KINDS`: the kinds with an encoder)."""

DEFAULT_FORMATS: tuple[str, ...] = tuple(kind.name for kind in export_kinds() if kind.default)
"""Written unless the config says otherwise (`OutputKind.default`): everything but APNG."""

RASTER_FORMATS: frozenset[str] = frozenset(kind.name for kind in export_kinds() if kind.raster)
"""Kinds rendered to pixels; these are the ones repeated for each of `ExportConfig.extra_sizes`."""

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

PROFILES: dict[str, dict[str, Any]] = {
    "web": {"size": 512, "extra_sizes": (), "background": "transparent"},
    "hd": {"size": 1080, "extra_sizes": (512,), "background": "transparent"},
    "social": {"size": 1080, "extra_sizes": (), "background": "white", "formats": ("video", "gif", "poster")},
    "app": {
        "size": 512,
        "extra_sizes": (1024,),
        "background": "transparent",
        "formats": ("lottie", "webm", "webp", "poster"),
    },
}
"""Named field overrides for common destinations (``--export-profile``): ``web`` is the default
set at 512²; ``hd`` adds a 1080² master; ``social`` is opaque MP4/GIF at 1080²; ``app`` is the
transparent, vector-first set product teams embed."""


@dataclass(frozen=True)
class ExportConfig:
    """How an animation is written out (sizes, timing, background, formats)."""

    size: int = 512
    """Side of the square raster outputs (MP4, WebM, WebP, GIF, APNG, PNG frames, poster) and
    the Lottie/SVG canvas, in px; the 256² working canvas is scaled to it."""
    extra_sizes: tuple[int, ...] = ()
    """Further square sizes in px (e.g. ``(1024, 1080)``); each writes the raster outputs again
    into an ``size_<S>/`` sub-folder, keyed ``<kind>@<S>`` in the returned paths."""
    fps: float = 10.0
    """Playback rate of every timed output. 10 fps plays the method's 24 frames as a 2.4 s loop,
    inside the 8–12 fps at which AniClipart-style clips are shown."""
    background: str = "transparent"
    """``transparent``, ``white`` or a ``#rrggbb`` colour, composited under every raster output.
    Transparent keeps alpha where the format has it (WebM, WebP, APNG, PNG); MP4 (no alpha) and
    GIF (1-bit alpha) are then composited over white. SVG and Lottie never carry a background."""
    formats: tuple[str, ...] = DEFAULT_FORMATS
    """Output kinds to write, from `FORMATS`."""
    svg_calc_mode: SvgCalcMode = "discrete"
    """SMIL interpolation of the animated SVG: ``discrete`` shows exactly the rendered frames
    (the same timing as the MP4/GIF); ``linear`` morphs between them and back to frame 0 at the
    loop point (one extra closing keyframe)."""
    poster: PosterChoice = "max_motion"
    """Poster frame: ``max_motion`` is the pose farthest (mean control-point displacement) from
    frame 0 — the one that best shows what the animation does; ``first`` is frame 0 (the rest
    pose when ``fix_start`` is on). A motionless animation gives frame 0 either way."""
    frame_pngs: bool = True
    """Also write ``frames/frame_XXX.png`` beside the per-frame SVGs (image sequences for
    editors and compositing tools)."""
    mp4_crf: int = 18
    """x264 constant rate factor (0 lossless … 51 worst); 18 is visually lossless for flat
    clipart colours and keeps a 24-frame 512² clip in the tens of KB."""
    webm_lossless: bool = True
    """Lossless VP9: exact alpha (lossy VP9 leaves a few levels of alpha noise around moving
    edges); a 24-frame 512² clip is a few hundred KB."""
    webm_crf: int = 20
    """libvpx-vp9 constant quality (0 … 63, lower is better) when not ``webm_lossless``; it
    applies to the colour and the alpha plane alike."""
    webp_lossless: bool = True
    """Lossless animated WebP: flat clipart colours compress well losslessly and edges keep
    their exact anti-aliased alpha."""

    def __post_init__(self) -> None:
        _check_size(self.size, "size")
        if not isinstance(self.extra_sizes, tuple):
            raise ConfigError(f"export extra_sizes must be a tuple of sizes, got {self.extra_sizes!r}")
        for extra in self.extra_sizes:
            _check_size(extra, "extra_sizes entry")
        if len(set(self.extra_sizes)) != len(self.extra_sizes) or self.size in self.extra_sizes:
            raise ConfigError(
                f"export extra_sizes must be distinct and differ from size {self.size}, got {self.extra_sizes!r}"
            )
        check_fps(self.fps, ConfigError)
        background_rgb(self.background)  # validates
        if not isinstance(self.formats, tuple) or not self.formats:
            raise ConfigError(f"export formats must be a non-empty tuple, got {self.formats!r}")
        known = [kind.name for kind in export_kinds()]  # the registry as it is now (a test may add one)
        unknown = [name for name in self.formats if name not in known]
        if unknown:
            raise ConfigError(f"unknown export format(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        if self.svg_calc_mode not in ("discrete", "linear"):
            raise ConfigError(f"svg_calc_mode must be 'discrete' or 'linear', got {self.svg_calc_mode!r}")
        if self.poster not in ("max_motion", "first"):
            raise ConfigError(f"poster must be 'max_motion' or 'first', got {self.poster!r}")
        for name, upper in (("mp4_crf", 51), ("webm_crf", 63)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
                raise ConfigError(f"{name} must be an integer in [0, {upper}], got {value!r}")
        for name in ("webm_lossless", "webp_lossless", "frame_pngs"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be a boolean, got {getattr(self, name)!r}")

    def with_overrides(self, overrides: dict[str, Any]) -> ExportConfig:
        """A copy with ``overrides`` applied (JSON-style lists become tuples); `ConfigError` names
        an unknown field or a bad value."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown export setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        cleaned: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return replace(self, **cleaned)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def sizes(self) -> tuple[int, ...]:
        """``size`` followed by ``extra_sizes``."""
        return (self.size, *self.extra_sizes)


def export_profile(name: str) -> ExportConfig:
    """The `ExportConfig` of a named profile from `PROFILES`; `ConfigError` lists the known ones."""
    if name not in PROFILES:
        raise ConfigError(f"unknown export profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    return ExportConfig().with_overrides(PROFILES[name])


def export_config_from_options(
    profile: str | None = None,
    *,
    size: int | None = None,
    extra_sizes: list[int] | None = None,
    fps: float | None = None,
    background: str | None = None,
    formats: list[str] | None = None,
) -> ExportConfig:
    """The `ExportConfig` a command line asks for: the named ``profile`` (else the defaults)
    with every option that was given applied on top; `ConfigError` on a bad value."""
    base = export_profile(profile) if profile else ExportConfig()
    given = {"size": size, "extra_sizes": extra_sizes, "fps": fps, "background": background, "formats": formats}
    return base.with_overrides({k: v for k, v in given.items() if v not in (None, [])})


def background_rgb(background: str) -> tuple[int, int, int] | None:
    """``None`` for ``transparent``, else the background as 8-bit RGB; `ConfigError` otherwise."""
    if background == "transparent":
        return None
    if background == "white":
        return (255, 255, 255)
    if isinstance(background, str) and _HEX_COLOUR.match(background):
        return tuple(int(background[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    raise ConfigError(f"export background must be 'transparent', 'white' or '#rrggbb', got {background!r}")


def _check_size(size: object, what: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 8192:
        raise ConfigError(f"export {what} must be an integer in [1, 8192], got {size!r}")
