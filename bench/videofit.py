"""Video-fit on the sample human (docs/method.md §13), beside one flexiclip SDS iteration.

``video_fit_s_per_clip``: one whole fit on the CPU — registration, DIS flow, least-squares
initialisation and the preset's photometric refinement with its residual-flow re-initialisation —
of a 24-frame 256² H.264 reference that the final renderer drew from a known motion of the
model's own family (seeded trajectories).
``video_fit_vs_flexiclip_iteration``: that time over one flexiclip iteration with the tiny prior
measured in the same run (how many SDS iterations one fit costs; the flexiclip preset runs 1,000).
``video_fit_stage_s.*``: the fit's stages. ``video_fit_point_error_mean_px`` /
``video_fit_point_error_p95_px`` / ``video_fit_mask_iou_min``: the known answer's recovery.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flexiclip_core.clipart import Clipart
    from flexiclip_core.rig import Rig


def run(device: str = "auto") -> dict[str, float]:
    """Figures on the CPU (the fit's flow runs on the CPU wherever the model runs)."""
    from bench.iteration import _human, measure
    from flexiclip_core.config import PRESETS
    from flexiclip_core.guidance import load_prior
    from flexiclip_core.videofit import load_reference_video
    from flexiclip_core.videofit.fit import fit_reference
    from tests.flexiclip_core.videofit import motions

    clipart, rig = _human()
    config = PRESETS["video-fit"].with_overrides({"video_fit.loop": "none"})
    truth = motions.in_family_points(clipart, rig, config, seed=3, amplitude_px=12.0)
    with tempfile.TemporaryDirectory() as folder:
        path = motions.write_mp4(
            Path(folder) / "reference.mp4", motions.over_background(motions.render_rgba(clipart, truth))
        )
        reference = load_reference_video(path, clip="human")
    fitted = fit_reference(clipart, rig, reference, config, clip="human")
    mean_px, p95_px = motions.point_errors(fitted.result.frame_points, truth)
    iteration_ms, _ = measure(load_prior("tiny", device="cpu"), repeats=3, warmup=1)
    figures = {
        "video_fit_s_per_clip": fitted.seconds["total"],
        "video_fit_vs_flexiclip_iteration": fitted.seconds["total"] / (iteration_ms / 1000.0),
        "video_fit_point_error_mean_px": mean_px,
        "video_fit_point_error_p95_px": p95_px,
        "video_fit_mask_iou_min": fitted.metrics["fit_mask_iou_min"],
    }
    figures.update({f"video_fit_stage_s.{k}": v for k, v in fitted.seconds.items() if k != "total"})
    return figures


MATRIX_OPENCLIPART: tuple[str, ...] = (
    "people/a_boy_plays_soccer_01.svg",
    "people/bodypart/mouth_-_body_part_nicu_b_04.svg",
    "people/clothing/hats/propeller.svg",
    "animals/birds/seagull_nicu_buculei_01.svg",
    "animals/bugs/lumaca_turbo_architetto__01.svg",
    "animals/mammals/housecats/gatto_nero_architetto_fr_01.svg",
    "animals/mammals/bears/orso_architetto_francesc_01.svg",
    "animals/fish/clown_loach_01.svg",
    "plants/albero_architetto_france_01.svg",
    "plants/trees/tree_whit_fruits_01.svg",
    "transportation/Evel_Knievel.svg",
    "food/apple_bitten_dan_gerhard_01.svg",
    "food/beverages/milk_mateya_01.svg",
    "buildings/homes/house_christoph_brill_01.svg",
    "tools/leafrake_benji_park_01.svg",
    "office/paperclip.svg",
    "signs_and_symbols/biohazard_01.svg",
    "shapes/airplane_nicu_buculei_01.svg",
    "science/astronomy/mondo_architetto_frances_01.svg",
    "electronics/antenna.svg",
)
"""The 20 openclipart files of the known-answer matrix (paths under the corpus's svg/ folder),
picked by hand when the matrix was written: one to five per category across people, animals,
plants, transport, food, buildings, tools, office, signs, shapes, science and electronics, all
under 60 kB but the bear (152 kB); `matrix_names` puts the 8 samples first. Each file's auto rig
has 6–20 keypoints and an end keypoint for the sway's limb; figures: docs/method.md §13."""

MATRIX_VARIANTS: tuple[str, ...] = ("mp4", "gif", "coloured", "scaled", "12fps")


def matrix_names() -> list[str]:
    """The 8 samples' clip ids, then the 20 corpus files."""
    import json

    from tests.conftest import SAMPLES_DIR

    samples = [entry["clip_id"] for entry in json.loads((SAMPLES_DIR / "samples.json").read_text())]
    return samples + list(MATRIX_OPENCLIPART)


def matrix_drawing(name: str) -> tuple[Clipart, Rig]:
    """(clipart, rig) of a sample (its catalog keypoints where given) or a corpus file (auto rig)."""
    import json

    import numpy as np

    from flexiclip_core.rig import rig_clipart
    from flexiclip_core.svg import parse_svg
    from tests.conftest import SAMPLES_DIR, openclipart_root

    entries = {entry["clip_id"]: entry for entry in json.loads((SAMPLES_DIR / "samples.json").read_text())}
    if name in entries:
        entry = entries[name]
        clipart = parse_svg(SAMPLES_DIR / entry["svg"], clip_id=name)
        keypoints = entry.get("keypoints")
        rig = rig_clipart(
            clipart,
            keypoints=np.array(keypoints) if keypoints else None,
            bones=np.array(entry["skeleton"]) if keypoints else None,
        )
        return clipart, rig
    clipart = parse_svg(openclipart_root() / name, clip_id=name)
    return clipart, rig_clipart(clipart)


def matrix_case(clipart, rig, motion: str, variant: str, folder: Path, config=None) -> dict[str, float]:
    """One known-answer case (tests/flexiclip_core/videofit/test_fit.py's matrix): the motion
    (``family``: seeded trajectories of the model, ~12 px; ``sway``: 5° sway + 25° limb turn with
    skinning weights, `motions.limb_weights`)
    rendered by the final renderer at 256², encoded per ``variant``, fitted with the full preset
    (loop none). Returns mean / p95 px of the control points and of the drawn curves
    (`motions.curve_errors`), IoU min / mean against the reference, the 1-px mask
    agreement's min, the IoU min / mean against the known answer (both drawn by the final
    renderer, no codec between) and seconds."""
    import torch

    from flexiclip_core.config import PRESETS
    from flexiclip_core.videofit import load_reference_video
    from flexiclip_core.videofit.fit import fit_reference
    from flexiclip_core.videofit.image import mask_iou
    from tests.flexiclip_core.videofit import motions

    config = config or PRESETS["video-fit"].with_overrides({"video_fit.loop": "none"})
    count = 29 if variant == "12fps" else 24
    if motion == "family":
        truth = motions.in_family_points(clipart, rig, config, seed=3, amplitude_px=12.0)
        source = truth
    else:
        truth = motions.sway_and_limb_points(clipart, rig, 24)
        source = motions.sway_and_limb_points(clipart, rig, count)
    colour = (40, 90, 160) if variant in ("coloured", "scaled") else (255, 255, 255)
    frames = motions.over_background(motions.render_rgba(clipart, source), colour)
    if variant == "scaled":
        frames = motions.place(frames, (256, 256), 0.8, (30, 20), colour)
    writer = motions.write_gif if variant == "gif" else motions.write_mp4
    path = writer(folder / f"reference.{'gif' if variant == 'gif' else 'mp4'}", frames, fps=12 if count == 29 else 10)
    fitted = fit_reference(clipart, rig, load_reference_video(path, clip="matrix"), config, clip="matrix")
    mean_px, p95_px = motions.point_errors(fitted.result.frame_points, truth)
    curve_mean_px, curve_p95_px = motions.curve_errors(clipart, fitted.result.frame_points, truth)
    # The fit drawn against the known answer drawn (alpha > ½, final renderer, no codec between).
    drawn, true = (motions.render_rgba(clipart, points)[..., 3] > 127 for points in (fitted.result.frame_points, truth))
    truth_iou = mask_iou(torch.as_tensor(drawn), torch.as_tensor(true)).numpy()
    return {
        "mean_px": mean_px,
        "p95_px": p95_px,
        "curve_mean_px": curve_mean_px,
        "curve_p95_px": curve_p95_px,
        "iou_min": fitted.metrics["fit_mask_iou_min"],
        "iou_mean": fitted.metrics["fit_mask_iou_mean"],
        "agreement_1px_min": fitted.metrics["fit_mask_agreement_1px_min"],
        "truth_iou_min": float(truth_iou.min()),
        "truth_iou_mean": float(truth_iou.mean()),
        "seconds": fitted.seconds["total"],
    }


def oracle_case(clipart, rig, motion: str, steps: int = 200) -> dict[str, float]:
    """The best the motion model reaches on a known answer, without video: Adam on every motion
    parameter (head bias at 0.01, the rest at 0.001) minimising the mean squared distance of the
    control points from the truth, ``steps`` steps, no rendering. What a perfect photometric fit
    could at most achieve (docs/method.md §13). Returns mean / p95 px and the worst point's px."""
    import numpy as np
    import torch

    from flexiclip_core.config import PRESETS
    from flexiclip_core.optimize import ClipAnimator
    from tests.flexiclip_core.videofit import motions

    config = PRESETS["video-fit"].with_overrides({"video_fit.loop": "none"})
    if motion == "family":
        truth = motions.in_family_points(clipart, rig, config, seed=3, amplitude_px=12.0)
    else:
        truth = motions.sway_and_limb_points(clipart, rig, 24)
    animator = ClipAnimator(clipart, rig, None, "", config)
    head_bias = animator.trajectories.offset_mlp[-1].bias
    others = [p for m in animator.trainable_modules().values() for p in m.parameters() if p is not head_bias]
    optimiser = torch.optim.Adam([{"params": [head_bias], "lr": 0.01}, {"params": others, "lr": 0.001}])
    target = torch.as_tensor(truth, dtype=torch.float32)
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        vertices = animator.pose()["final_vertices"][animator.frame_to_pose]
        loss = (animator.binding.apply(vertices) - target).square().sum(-1).mean()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        points = animator.binding.apply(animator.pose()["final_vertices"][animator.frame_to_pose]).double().numpy()
    mean_px, p95_px = motions.point_errors(points, truth)
    return {"mean_px": mean_px, "p95_px": p95_px, "max_px": float(np.linalg.norm(points - truth, axis=-1).max())}


def matrix(
    names: list[str] | None = None,
    motions_: tuple[str, ...] = ("family", "sway"),
    variants: tuple[str, ...] = ("mp4",),
    overrides: dict[str, object] | None = None,
):
    """Yield (drawing, motion, variant, figures or the error) over the matrix drawings, fitted
    with the video-fit preset (loop none) and ``overrides`` (dotted keys, as ``--set``)."""
    import os
    import time

    from flexiclip_core.config import PRESETS
    from flexiclip_core.errors import FlexiclipError

    config = PRESETS["video-fit"].with_overrides({"video_fit.loop": "none", **(overrides or {})})
    for name in matrix_names():
        if names and name not in names:
            continue
        try:
            clipart, rig = matrix_drawing(name)
        except FlexiclipError as exc:
            yield name, "-", "-", f"{type(exc).__name__}: {exc}"
            continue
        for motion in motions_:
            for variant in variants:
                load, started = os.getloadavg()[0], time.perf_counter()
                with tempfile.TemporaryDirectory() as folder:
                    try:
                        figures = matrix_case(clipart, rig, motion, variant, Path(folder), config)
                    except (FlexiclipError, ValueError, IndexError, RuntimeError) as exc:  # a refusal is a result
                        yield name, motion, variant, f"{type(exc).__name__}: {exc}"
                        continue
                # What the table in docs/method.md §13 shows beside the errors: the rig's size,
                # the case's wall time and the machine's 1-min load when it started.
                figures.update(keypoints=len(rig.keypoints), wall_s=time.perf_counter() - started, load=load)
                yield name, motion, variant, figures


if __name__ == "__main__":
    import argparse
    import json
    import sys

    import torch

    from flexiclip_core.config import parse_override

    parser = argparse.ArgumentParser(description="video-fit figures, or the known-answer matrix (--matrix)")
    parser.add_argument("--matrix", action="store_true", help="run the known-answer matrix, one JSON line per case")
    parser.add_argument("--drawing", action="append", help="only these drawings (sample clip ids or corpus paths)")
    parser.add_argument("--motion", action="append", choices=("family", "sway"))
    parser.add_argument("--variant", action="append", choices=MATRIX_VARIANTS)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the preset, as `flexiclip animate --set` (JSON value, else text)",
    )
    parser.add_argument(
        "--oracle", type=int, metavar="STEPS", help="fit the model to the true control points (no video)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.oracle:
        for name in args.drawing or matrix_names():
            clipart, rig = matrix_drawing(name)
            for motion in args.motion or ("family", "sway"):
                result = oracle_case(clipart, rig, motion, args.oracle)
                print(json.dumps({"drawing": name, "motion": motion, "oracle": result}), flush=True)
        sys.exit(0)
    if args.matrix:
        for name, motion, variant, result in matrix(
            args.drawing,
            tuple(args.motion or ("family", "sway")),
            tuple(args.variant or ("mp4",)),
            dict(parse_override(item) for item in args.set),
        ):
            print(json.dumps({"drawing": name, "motion": motion, "variant": variant, "result": result}), flush=True)
        sys.exit(0)
    for key, value in run().items():
        print(f"{key:50s} {value:10.3f}")
