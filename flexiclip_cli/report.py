"""`flexiclip report ROOT [--run RUN_ID]`: (re)write a run's HTML gallery and print where it is.

The page is ``ROOT/reports/RUN_ID/index.html`` (see `tasks.html_report`); the pipeline also
writes it at the end of every run. Exit status 2 (one stderr line) when the output catalog
cannot be read or has no such run.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flexiclip_cli.common import EXIT_BAD_INPUT


def report(
    root: Annotated[str, typer.Argument(help="Output root: folder, file:// or s3:// URI.", show_default=False)],
    run: Annotated[str | None, typer.Option("--run", help="Run id to report (default: the latest run).")] = None,
) -> None:
    """Write the HTML report of a run (default: the latest) and print its location."""
    from catalogs.errors import CatalogError
    from catalogs.storage import storage_options_from_env
    from tasks.html_report import write_report

    try:
        uri = write_report(root, run, storage_options=storage_options_from_env() or None)
    except (CatalogError, OSError) as error:
        typer.echo(f"error: output root {root!r}: {error}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(uri)
