"""`flexiclip bench`: run the benchmark modules side by side and print one table or JSON object.

Each module under `bench/` exposes ``run() -> dict[str, float]``; ratios inside a module are
measured in the same run, so they compare like with like on whatever machine runs them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import time
from typing import Annotated

import typer

from flexiclip_cli.common import refused_input_exits

log = logging.getLogger(__name__)

BENCH_MODULES: tuple[str, ...] = ("render", "deform", "flops", "iteration", "pipeline", "plan", "videofit", "scale")
"""Benchmark modules in the order they run (a module not yet present is skipped); ``scale``
(bench/scale.py, 1k and 10k catalogs) takes about ten minutes."""


def collect(only: list[str] | None = None, device: str = "auto") -> tuple[dict[str, float], dict[str, str]]:
    """Run the benchmark modules; returns (figures, errors by module). Modules whose ``run`` takes
    a ``device`` get ``device`` (the others measure CPU figures by definition)."""
    figures: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in only or BENCH_MODULES:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                log.info("benchmark module %s not present, skipped", name)
                continue
            raise
        started = time.perf_counter()
        try:
            takes_device = "device" in inspect.signature(module.run).parameters
            figures.update(module.run(device=device) if takes_device else module.run())
        except Exception as exc:  # one broken benchmark must not hide the others
            log.exception("benchmark %s failed", name)
            errors[name] = f"{type(exc).__name__}: {exc}"
        log.info("benchmark %s took %.1f s", name, time.perf_counter() - started)
    return figures, errors


def bench(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only these modules (render, deform, ...).")
    ] = None,
    gpu: Annotated[
        bool, typer.Option("--gpu", help="Instead: the real prior architectures at full size, timed (bench/gpu.py).")
    ] = False,
    size: Annotated[
        str, typer.Option("--size", help="--gpu architecture size: full, or tiny (a CPU check of the path).")
    ] = "full",
    time_limit: Annotated[float, typer.Option("--time-limit", help="--gpu: seconds for the whole run.")] = 480.0,
    compile_prior: Annotated[
        bool, typer.Option("--compile-prior", help="--gpu: torch.compile the denoiser first.")
    ] = False,
    clips_per_call: Annotated[
        int, typer.Option("--clips-per-call", help="--gpu: clips advanced in lockstep per prior call (≤ 1: skip).")
    ] = 4,
    device: Annotated[
        str, typer.Option(help="Device of the iteration benchmark: auto (CUDA when available), cpu, cuda or cuda:N.")
    ] = "auto",
) -> None:
    """Measure the renderer, deformers, prior FLOPs, one optimisation iteration and the pipeline
    (or, with --gpu, what a clip costs with the real prior architectures)."""
    import torch

    if gpu:
        from bench.gpu import run as run_gpu

        figures = run_gpu(size, time_limit_s=time_limit, compile_prior=compile_prior, clips_per_call=clips_per_call)
        if json_output:
            typer.echo(json.dumps(figures, indent=2, sort_keys=True))
        else:
            for key, value in figures.items():
                typer.echo(f"{key:60s} {value:12.3f}" if isinstance(value, float) else f"{key:60s} {value}")
        return
    from flexiclip_core.devices import resolve_device

    with refused_input_exits("bench"):
        torch_device = str(resolve_device(device))
    figures, errors = collect(only, torch_device)
    meta = {"torch_threads": torch.get_num_threads(), "torch_version": torch.__version__, "device": torch_device}
    if json_output:
        typer.echo(json.dumps({**figures, **meta, **({"errors": errors} if errors else {})}, indent=2, sort_keys=True))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="flexiclip bench")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in figures.items():
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
        for key, value in meta.items():
            table.add_row(key, str(value))
        console = Console()
        console.print(table)
        for name, message in errors.items():
            console.print(f"[red]benchmark {name} failed:[/red] {message}")
    if errors:
        raise typer.Exit(code=1)
