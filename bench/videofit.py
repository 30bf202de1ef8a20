"""Video-fit on the sample human (docs/method.md §13), beside one flexiclip SDS iteration.

``video_fit_s_per_clip``: one whole fit on the CPU — registration, DIS flow, least-squares
initialisation and the preset's photometric refinement — of a 24-frame 256² H.264 reference that
the final renderer drew from a known motion of the model's own family (seeded trajectories).
``video_fit_vs_flexiclip_iteration``: that time over one flexiclip iteration with the tiny prior
measured in the same run (how many SDS iterations one fit costs; the flexiclip preset runs 1,000).
``video_fit_stage_s.*``: the fit's stages. ``video_fit_point_error_mean_px`` /
``video_fit_point_error_p95_px`` / ``video_fit_mask_iou_min``: the known answer's recovery.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


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


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:50s} {value:10.3f}")
