"""What every ``flexiclip`` command shares: exit codes, logging set-up, and turning refused input
into one stderr line. Imports nothing else of `flexiclip_cli`, so command modules import it and
`flexiclip_cli.main` imports the command modules, with no circle.

Exit status of every command: 0 done, 1 some clips failed (their rows say why), 2 bad input
(a malformed SVG, a missing file, an unusable catalog or option), 3 infrastructure (no worker
could start, the cluster or storage failed, the run crashed): see `exit_code_for`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from flexiclip_core.clipart import Clipart

logger = logging.getLogger("flexiclip_cli")

EXIT_CLIPS_FAILED = 1
"""Exit status when the run finished but some clips failed."""
EXIT_BAD_INPUT = 2
"""Exit status for bad input (invalid SVG, missing file, unusable catalog, invalid option value)."""
EXIT_INFRASTRUCTURE = 3
"""Exit status when the machinery failed (workers, cluster, storage, a crash), not the input."""

LOGGED_PACKAGES = ("flexiclip_core", "flexiclip_cli", "catalogs", "tasks", "flows")
"""Loggers the CLI's handler is attached to (third-party loggers keep their own defaults)."""


class BadInput(Exception):
    """Input the CLI refuses before it reaches the method (a missing or unreadable file)."""


def exit_code_for(error: BaseException) -> int:
    """2 for bad input (`FlexiclipError`, `BadInput`), 3 for anything else (infrastructure, a crash)."""
    from flexiclip_core.errors import FlexiclipError

    return EXIT_BAD_INPUT if isinstance(error, (FlexiclipError, BadInput)) else EXIT_INFRASTRUCTURE


def configure_logging(verbose: bool) -> None:
    """Route the project's loggers to stderr through rich; DEBUG when verbose, else WARNING."""
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.WARNING
    for name in LOGGED_PACKAGES:
        package_logger = logging.getLogger(name)
        for handler in list(package_logger.handlers):
            if getattr(handler, "flexiclip_cli", False):
                package_logger.removeHandler(handler)
        handler = RichHandler(console=Console(stderr=True), show_path=verbose, rich_tracebacks=False)
        handler.flexiclip_cli = True  # type: ignore[attr-defined]
        package_logger.addHandler(handler)
        package_logger.setLevel(level)


def set_wan_vae_dtype(value: str) -> None:
    """``--wan-vae-dtype``: checked, then handed to the Wan loader through
    ``$FLEXICLIP_WAN_VAE_DTYPE``, which a run passes on to its workers with every ``FLEXICLIP_*``
    (docs/priors.md). A value that names no dtype exits 2 with one line."""
    from flexiclip_core.errors import ConfigError
    from flexiclip_core.guidance.wan import WAN_VAE_DTYPE_ENV_VAR, wan_vae_dtype_setting

    try:
        os.environ[WAN_VAE_DTYPE_ENV_VAR] = wan_vae_dtype_setting(value)
    except ConfigError as exc:
        typer.echo(f"error: --wan-vae-dtype: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def error_line(exc: BaseException, clip: str, what: str = "clip") -> str:
    """The one line printed for a refused input: names the clip (and element), or the ``what``
    the command was given (an output root, a folder), and the reason."""
    from flexiclip_core.errors import FlexiclipError

    if isinstance(exc, FlexiclipError) and exc.clip:
        return f"error: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        reason = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        reason = str(exc) or type(exc).__name__
    return f"error: {what} {clip!r}: {reason}"


@contextmanager
def refused_input_exits(clip: str, what: str = "clip") -> Iterator[None]:
    """Turn bad-input exceptions into one stderr line and exit status 2; the line names ``what``
    the command was given: a clip by its file name, or an ``output root`` or a ``folder``."""
    from flexiclip_core.errors import FlexiclipError

    try:
        yield
    except (FlexiclipError, BadInput, OSError) as exc:
        logger.debug("refused input %s", clip, exc_info=True)
        typer.echo(error_line(exc, clip, what), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def check_svg_path(svg: Path) -> None:
    """`BadInput` naming what ``svg`` is when it is not a readable file (missing, a directory)."""
    if svg.is_dir():
        raise BadInput(f"is a directory, not an SVG file: {svg}")
    if not svg.exists():
        raise BadInput(f"file not found: {svg}")
    if not svg.is_file():
        raise BadInput(f"not a regular file: {svg}")


def load_clipart(svg: Path) -> Clipart:
    """Parse ``svg`` with the clip named by its file name (as every CLI error names it); raises
    `BadInput` or `SvgParseError`."""
    check_svg_path(svg)
    from flexiclip_core.svg import parse_svg

    return parse_svg(svg, clip_id=svg.name)


SvgArgument = Annotated[Path, typer.Argument(help="SVG clipart file.", show_default=False)]
