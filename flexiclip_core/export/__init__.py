"""Output formats of an animation (docs/method.md §11): MP4, WebM (alpha), animated WebP/APNG, GIF,
animated SVG, Lottie, per-frame SVGs/PNGs, poster.

The package root re-exports the public API; the writers live in `video`, `images`,
`svg_anim`, `lottie`, the config in `profiles` and the whole export in `bundle`. Every file is
written atomically and failures raise `ExportError` naming the path. Frames use the layout of
`flexiclip_core.render`: uint8 ``[N, H, W, 3|4]``, straight RGBA, row 0 at top.
"""

from flexiclip_core.export.arrays import MOTION_ARRAYS, write_motion_arrays
from flexiclip_core.export.bundle import export_animation
from flexiclip_core.export.files import write_text_atomic
from flexiclip_core.export.images import (
    poster_frame_index,
    write_apng,
    write_frame_pngs,
    write_gif,
    write_poster,
    write_webp,
)
from flexiclip_core.export.lottie import (
    lottie_animation,
    lottie_schema,
    lottie_schema_errors,
    validate_lottie,
    write_lottie,
)
from flexiclip_core.export.profiles import (
    DEFAULT_FORMATS,
    FORMATS,
    OUTPUT_NAMES,
    PROFILES,
    ExportConfig,
    PosterChoice,
    SvgCalcMode,
    background_rgb,
    export_config_from_options,
    export_profile,
)
from flexiclip_core.export.svg_anim import animated_svg, clipart_to_svg, write_animated_svg, write_frame_svgs
from flexiclip_core.export.video import composite_over, composite_over_white, write_mp4, write_webm

__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "MOTION_ARRAYS",
    "OUTPUT_NAMES",
    "PROFILES",
    "ExportConfig",
    "PosterChoice",
    "SvgCalcMode",
    "animated_svg",
    "background_rgb",
    "clipart_to_svg",
    "composite_over",
    "composite_over_white",
    "export_animation",
    "export_config_from_options",
    "export_profile",
    "lottie_animation",
    "lottie_schema",
    "lottie_schema_errors",
    "poster_frame_index",
    "validate_lottie",
    "write_animated_svg",
    "write_apng",
    "write_frame_pngs",
    "write_frame_svgs",
    "write_gif",
    "write_lottie",
    "write_motion_arrays",
    "write_mp4",
    "write_poster",
    "write_text_atomic",
    "write_webm",
    "write_webp",
]
