"""`flexiclip animate`: one clip from SVG and prompt to video, GIF, animated SVG and metrics."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flexiclip_cli.common import BadInput, load_clipart, refused_input_exits

if TYPE_CHECKING:
    import torch

    from flexiclip_core.config import AnimationConfig
    from flexiclip_core.videofit import ReferenceVideo

log = logging.getLogger(__name__)


def load_keypoints_file(path: Path) -> tuple[list, list | None, list | None]:
    """Keypoints JSON: {"keypoints": [[x, y], …] or [{"x":…, "y":…}], "skeleton": [[i, j], …], "layers": […]}."""
    from flexiclip_core.errors import RigError

    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RigError(f"cannot read keypoints file {path}: {exc}") from None
    if isinstance(payload, list):
        payload = {"keypoints": payload}
    if not isinstance(payload, dict) or "keypoints" not in payload:
        raise RigError(f"keypoints file {path} must hold a 'keypoints' list")
    points = [[p["x"], p["y"]] if isinstance(p, dict) else p for p in payload["keypoints"]]
    return points, payload.get("skeleton") or payload.get("bones"), payload.get("layers")


def generated_reference(
    name: str,
    svg: Path,
    prompt: str,
    config: AnimationConfig,
    device: torch.device,
    model_dir: Path | None,
    keep: Path | None,
) -> ReferenceVideo:
    """The clip's ``config.video_fit.reference_candidates`` references from generator ``name``
    (one batch), written to ``keep`` when given; returns the first (the one fitted)."""
    from flexiclip_core.export.video import write_mp4
    from flexiclip_core.svg import parse_svg
    from flexiclip_core.videofit.generate import candidate_seeds, generate_references, load_generator

    generator = load_generator(name, device=device, model_dir=model_dir)
    if not generator.spec.is_trained:
        typer.echo(f"note: {generator.spec.description}", err=True)
    seeds = candidate_seeds(config.seed, config.video_fit.reference_candidates)
    clipart = parse_svg(svg, clip_id=svg.name)
    references = generate_references(generator, clipart, prompt, frames=config.schedule.frame_count, seeds=seeds)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for index, reference in enumerate(references):
            pixels = (reference.frames * 255.0).round().astype("uint8")
            path = write_mp4(pixels, keep / f"reference_{index}_seed{reference.seed}.mp4", reference.fps, clip=svg.name)
            typer.echo(f"reference {index}: {path} (seed {reference.seed})", err=True)
    return references[0]


def check_output_folder(out: Path, *, option: str = "--out") -> None:
    """`BadInput` unless ``out`` is (or can be created as) a folder this process can write. The
    folders it creates to find out are removed again, so a later refusal leaves nothing behind."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise BadInput(f"{option} {out} exists and is not a folder")
    created = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".flexiclip-probe-"):
            pass
    except OSError as exc:
        raise BadInput(f"{option} {out} is not a writable folder ({exc.strerror or exc})") from None
    finally:
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def animate(
    svg: Annotated[Path, typer.Argument(help="SVG clipart file.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", show_default=False)],
    prompt: Annotated[
        str, typer.Option("--prompt", "-p", help="Text describing the motion (required but for video-fit).")
    ] = "",
    method: Annotated[
        str,
        typer.Option(
            help="Method preset: flexiclip, aniclipart, flexiclip-no-temporal, flexiclip-no-flow, video-fit "
            "(default: video-fit with --reference-video, else flexiclip)."
        ),
    ] = "",
    reference_video: Annotated[
        str | None,
        typer.Option(help="Video file (mp4/webm/mov/gif/webp), file:// URI or PNG folder to fit the motion to."),
    ] = None,
    generate_reference: Annotated[
        str | None,
        typer.Option(
            metavar="GENERATOR",
            help="Generate the reference video from the rest pose and --prompt with this generator "
            "(wan-vace: Wan2.1-VACE-1.3B from --generator-model or $FLEXICLIP_WAN_VACE_MODEL; wan-vace-tiny: "
            "random-weight test model), then fit to it (method video-fit).",
        ),
    ] = None,
    generator_model: Annotated[
        Path | None, typer.Option(help="Local folder of the generator's weights (nothing is downloaded).")
    ] = None,
    reference_candidates: Annotated[
        int,
        typer.Option(min=1, help="Generate K references (seeds seed … seed+K−1) in one batch; the first is fitted."),
    ] = 1,
    keep_references: Annotated[
        Path | None,
        typer.Option(help="Folder to write the generated references to (reference_<k>_seed<S>.mp4)."),
    ] = None,
    prior: Annotated[
        str | None,
        typer.Option(
            help="Prior: tiny, wan, wan:PATH, wan-tiny, modelscope or modelscope:PATH (default: the preset's, modelscope)."
        ),
    ] = None,
    iterations: Annotated[int | None, typer.Option(min=1, help="Optimisation steps (default: the preset's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the preset's, 1000).")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N.")] = "auto",
    keypoints: Annotated[
        Path | None, typer.Option(help="JSON file with keypoints (SVG user units) and skeleton.")
    ] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="Text the motion should avoid.")] = None,
    export_profile: Annotated[
        str | None, typer.Option(help="Export profile: web (default set), hd, social, app.")
    ] = None,
    size: Annotated[int | None, typer.Option(help="Side of the square outputs in px (default 512).")] = None,
    extra_size: Annotated[
        list[int] | None,
        typer.Option(help="Another square size for the raster outputs, written to size_<S>/ (repeatable)."),
    ] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate of the timed outputs (default 10).")] = None,
    background: Annotated[str | None, typer.Option(help="transparent (default), white or #rrggbb.")] = None,
    output_format: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="Output kind to write (repeatable): video, webm, webp, apng, gif, svg_animation, lottie, frames, poster.",
        ),
    ] = None,
) -> None:
    """Animate one clipart from a text prompt and write its outputs (video.mp4, video.webm, animation.webp, animation.json (Lottie), animation.gif, animation.svg, frames/, poster.png; see --format), metrics.json and config.json."""
    with refused_input_exits(svg.name):
        # The SVG and the output folder are checked before torch is imported and the prior loads
        # (tens of seconds for a real one), then the options: bad input costs nothing.
        load_clipart(svg)
        check_output_folder(out)
        import numpy as np
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from flexiclip_core.animate import ClipRequest, animate_clip
        from flexiclip_core.devices import resolve_device
        from flexiclip_core.export import export_config_from_options
        from flexiclip_core.optimize import load_config_prior
        from tasks.plan import base_config

        export = export_config_from_options(
            export_profile, size=size, extra_sizes=extra_size, fps=fps, background=background, formats=output_format
        )
        generating = generate_reference is not None
        if generating and reference_video is not None:
            raise BadInput("--generate-reference and --reference-video exclude each other (one reference per clip)")
        for given, option in (
            (reference_candidates != 1, "--reference-candidates"),
            (keep_references is not None, "--keep-references"),
            (generator_model is not None, "--generator-model"),
        ):
            if given and not generating:
                raise BadInput(f"{option} needs --generate-reference")
        if keep_references is not None:
            check_output_folder(keep_references, option="--keep-references")
        method = method or ("video-fit" if reference_video or generating else "flexiclip")
        # The pipeline's own recipe (preset + overrides), so a clip animated here and the same clip
        # in a run get the same config and config hash.
        overrides: dict[str, object] = {
            name: value for name, value in (("seed", seed), ("prior", prior)) if value is not None
        }
        if generating:  # base_config refuses an unknown generator name here, before anything loads
            overrides.update(
                {"video_fit.generator": generate_reference, "video_fit.reference_candidates": reference_candidates}
            )
        config = base_config(method, iterations, overrides)
        fits_video = config.objective == "video-fit"
        if fits_video and reference_video is None and not generating:
            raise BadInput(f"method {method} needs --reference-video or --generate-reference")
        if not fits_video and reference_video is not None:
            raise BadInput(f"--reference-video needs --method video-fit, not {method}")
        if not fits_video and generating:
            raise BadInput(f"--generate-reference needs --method video-fit, not {method}")
        if generating and not prompt:
            raise BadInput("--generate-reference needs --prompt (the motion to generate)")
        if not fits_video and not prompt:
            raise BadInput("--prompt is required (only video-fit works without one)")
        points, bones, layers = load_keypoints_file(keypoints) if keypoints else (None, None, None)
        request = ClipRequest(
            svg=svg,
            prompt=prompt,
            clip_id=svg.name,  # as the CLI's other errors name the clip
            negative_prompt=negative_prompt,
            keypoints=np.asarray(points, dtype=np.float64) if points is not None else None,
            bones=np.asarray(bones, dtype=np.int64) if bones is not None else None,
            layers=layers,
            reference_video=reference_video,
        )
        torch_device = resolve_device(device)
        typer.echo(f"device: {torch_device}" + (" (auto)" if device == "auto" else ""), err=True)
        if generate_reference is not None:
            request = dataclasses.replace(
                request,
                reference_video=generated_reference(
                    generate_reference, svg, prompt, config, torch_device, generator_model, keep_references
                ),
            )
        video_prior = None if fits_video else load_config_prior(config, device=torch_device)
        if video_prior is not None and not video_prior.is_trained:
            typer.echo(f"note: {video_prior.description}", err=True)
        total_steps = sum(config.video_fit.refine_steps) if fits_video else config.iterations
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(svg.stem, total=total_steps, losses="")

            def on_step(report) -> None:
                terms = " ".join(f"{k}={v:.4g}" for k, v in report.terms.items())
                progress.update(task, completed=report.step, losses=terms)

            outputs = animate_clip(
                request, video_prior, config, out, device=str(torch_device), export=export, on_step=on_step
            )
    for name, path in outputs.files.items():
        typer.echo(f"{name:>14}: {path}")
