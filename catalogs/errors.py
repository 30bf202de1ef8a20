"""Errors of the pipeline floors (catalogs, tasks, flows), in two families the CLI maps to exit codes:

- bad input (exit 2): the method's `FlexiclipError` and its subclasses here, `CatalogError`
  (a catalog or output root that cannot be used as given) and `SvgSourceError`;
- infrastructure (exit 3): `PipelineError` and its subclasses (no worker could start, a worker
  died, a clip ran out of time): the input may be fine, the machinery around it was not.

`PipelineError` is deliberately not a `FlexiclipError`: a worker that cannot start is not the
user's bad input. It lives in the lowest pipeline floor so every floor above can raise it.
"""

from __future__ import annotations

from flexiclip_core.errors import FlexiclipError


class CatalogError(FlexiclipError):
    """A whole catalog (input or output) cannot be read or written as asked.

    Per-row problems of an input catalog are not raised: they come back as `RowError`s.
    """


class SvgSourceError(CatalogError):
    """The SVG a catalog row points at cannot be read (missing, not a regular file, unreachable)."""


class PipelineError(Exception):
    """The pipeline's machinery failed (workers, cluster, storage), not the input."""
