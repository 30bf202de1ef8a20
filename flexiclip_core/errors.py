"""Specific exceptions raised by the method; the pipeline turns them into catalog rows.

Every `FlexiclipError` means bad input (the SVG, the rig, a config value, a prior that is not
there): the command line exits 2 for it. Failures of the pipeline's machinery (workers, cluster,
storage) are not `FlexiclipError`s; they live with the pipeline (`catalogs.errors.PipelineError`).

Every error carries the clip it concerns and, where there is one, the element, so a message
reads on its own: ``clip 'cat-07': element <path id="tail">: NaN coordinate in 'd'``.
"""

from __future__ import annotations


class FlexiclipError(Exception):
    """Base of every error the method raises on bad input or missing resources (exit status 2)."""

    def __init__(self, message: str, *, clip: str | None = None, element: str | None = None) -> None:
        self.clip = clip
        self.element = element
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.clip:
            parts.append(f"clip {self.clip!r}")
        if self.element:
            parts.append(f"element {self.element}")
        parts.append(self.reason)
        return ": ".join(parts)


class SvgParseError(FlexiclipError):
    """The SVG cannot be read as a drawing (malformed XML, bad path data, NaN coordinates...)."""


class SvgSecurityError(SvgParseError):
    """The SVG tries something a hostile file would (DTD, entities, external references)."""


class SvgLimitExceeded(SvgParseError):
    """The SVG exceeds one of the configured resource limits (size, elements, depth, commands)."""

    def __init__(self, message: str, *, limit: str, clip: str | None = None, element: str | None = None) -> None:
        self.limit = limit
        super().__init__(message, clip=clip, element=element)


class EmptyDrawingError(SvgParseError):
    """The SVG parsed but contains no visible shape to animate."""


class RigError(FlexiclipError):
    """Keypoints / skeleton cannot be built or are inconsistent with the drawing."""


class MeshError(FlexiclipError):
    """The drawing cannot be meshed or a control point cannot be bound to the mesh."""


class RenderError(FlexiclipError):
    """A renderer cannot draw the given shapes (unsupported backend, bad sizes)."""


class PriorUnavailable(FlexiclipError):
    """The diffusion prior's weights are not available locally (nothing is ever downloaded)."""


class ConfigError(FlexiclipError):
    """A configuration value or override is invalid."""


class ExportError(FlexiclipError):
    """Writing an output format failed."""


class ReferenceVideoError(FlexiclipError):
    """A reference video for video-fit cannot be used: unreadable, corrupt, empty, over a
    decode limit, or not showing the drawing (`flexiclip_core.videofit`)."""


class RegistrationError(ReferenceVideoError):
    """The reference video's first frame does not contain the drawing (registration residual
    over its bound)."""
