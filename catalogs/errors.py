"""Errors of the catalog layer (input catalog, output catalog, storage)."""

from __future__ import annotations

from flexiclip_core.errors import FlexiclipError


class CatalogError(FlexiclipError):
    """A whole catalog (input or output) cannot be read or written as asked.

    Per-row problems of an input catalog are not raised: they come back as `RowError`s.
    """


class SvgSourceError(CatalogError):
    """The SVG a catalog row points at cannot be read (missing, not a regular file, unreachable)."""
