"""`flexiclip dataset export`: the succeeded clips of an output catalog as WebDataset or Parquet shards."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from flexiclip_cli.common import refused_input_exits

dataset_app = typer.Typer(
    name="dataset",
    help="Export the output catalog as a dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataset_app.command("export")
def export(
    root: Annotated[str, typer.Argument(help="Output root: folder or s3:// URI.", show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Dataset folder or s3:// prefix.", show_default=False)],
    output_format: Annotated[str, typer.Option("--format", help="webdataset (tar shards) or parquet.")] = "webdataset",
    version: Annotated[
        int | None, typer.Option(min=0, help="Export this catalog version (default: the latest).")
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Export the catalog as it was at this ISO time.")] = None,
    where: Annotated[
        str | None,
        typer.Option(help="Filter, e.g. \"temporal_consistency > 0.8 and prior_licence != 'CC-BY-NC-4.0'\"."),
    ] = None,
    shard_size: Annotated[int, typer.Option(min=1, help="Samples per shard.")] = 1000,
) -> None:
    """One sample per succeeded clip (provenance, prior licence, metrics, media); a re-run writes only missing shards."""
    from rich.progress import BarColumn, Progress, TextColumn

    from catalogs.dataset import export_dataset
    from catalogs.storage import storage_options_from_env

    with (
        refused_input_exits(root, "output root"),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} shard(s)"),
            transient=True,
            disable=not sys.stdout.isatty(),  # off a terminal a transient bar still leaves a blank line
        ) as progress,
    ):
        task = progress.add_task("dataset export", total=None)
        result = export_dataset(
            root,
            out,
            format=output_format,
            version=version,
            as_of=as_of,
            where=where,
            shard_size=shard_size,
            storage_options=storage_options_from_env() or None,
            on_shard=lambda name, written: progress.update(task, advance=1, description=name),
        )
    typer.echo(
        f"{out}: {result.samples} sample(s) from catalog version {result.version} in {len(result.shards)} "
        f"shard(s), {len(result.written)} written now"
    )
