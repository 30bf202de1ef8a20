"""One FlexiClip optimisation iteration on the sample human, with a per-stage breakdown.

``iteration_ms_tiny_prior``: flexiclip preset, all losses, forward + backward + Adam, with the
tiny random-weight prior (real diffusers classes at toy size). ``iteration_ms_excluding_prior``:
the same iteration with the analytic Gaussian prior standing in for the prior's networks (its
encoder is one pooling + a 3→4 channel map and its denoiser a closed form), minus the forward
time spent inside those stand-in calls (the ``prior_encode`` and ``prior_score`` stages), so
the figure is render + deform + ODE + augmentation + losses + backward + Adam (the stand-ins'
own backward, about a millisecond, stays in). ``iteration_ms_wan_tiny``: the flexiclip preset
with wan-tiny (Wan's diffusers classes at toy size, loaded by path), on the schedule
`fit_config_to_prior` picks for its causal VAE (25 frames, 7 poses, both videos encoded whole);
3 repeats, as its CPU iteration costs seconds (its 3-D convolutions at full resolution). Stages are timed with wall clocks around each
stage (forward) plus backward and the Adam step; medians over the repeats after warm-up.
``throughput_lockstep_k4_vs_single``: clip-iterations per second of 4 clips in lockstep (one
encoder and one prior call per step for all four, `flexiclip_core.lockstep`) over one clip
alone, tiny prior, flexiclip preset, measured side by side in this run (4 seeds of the human).
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "catalogs" / "samples"


def _human():
    from flexiclip_core.rig import rig_clipart
    from flexiclip_core.svg import parse_svg

    entry = next(e for e in json.loads((SAMPLES / "samples.json").read_text()) if e["clip_id"] == "human")
    clipart = parse_svg(SAMPLES / entry["svg"], clip_id="human")
    rig = rig_clipart(clipart, keypoints=np.array(entry["keypoints"]), bones=np.array(entry["skeleton"]))
    return clipart, rig


PRIOR_STAGES = ("prior_encode", "prior_score")
"""Stages that are the prior's own calls (the encoder, the denoiser)."""


def measure(
    prior,
    method: str = "flexiclip",
    repeats: int = 9,
    warmup: int = 2,
    exclude: tuple[str, ...] = (),
    device: str = "cpu",
) -> tuple[float, dict[str, float]]:
    """Median ms of one iteration (less the time in the ``exclude`` stages of that same
    iteration) and median ms per stage."""
    from flexiclip_core.optimize import ClipAnimator, fit_config_to_prior, preset

    clipart, rig = _human()
    animator = ClipAnimator(
        clipart, rig, prior, "a person dancing", fit_config_to_prior(preset(method), prior), device=device
    )
    stages: dict[str, list[float]] = defaultdict(list)
    recording = False

    @contextmanager
    def timer(name: str):
        started = time.perf_counter()
        yield
        if recording:
            stages[name].append((time.perf_counter() - started) * 1000.0)

    animator.stage_timer = timer
    for _ in range(warmup):
        animator.step()
    totals = []
    recording = True
    for _ in range(repeats):
        before = sum(sum(stages[name]) for name in exclude)
        started = time.perf_counter()
        animator.step()
        elapsed = (time.perf_counter() - started) * 1000.0
        totals.append(elapsed - (sum(sum(stages[name]) for name in exclude) - before))
    per_stage = {name: statistics.median(values) * len(values) / repeats for name, values in stages.items()}
    return statistics.median(totals), per_stage


def lockstep_ms(prior, clips: int, repeats: int = 3, warmup: int = 1, device: str = "cpu") -> float:
    """Median ms of one lockstep step of ``clips`` clips (the human, one seed each), flexiclip preset."""
    from flexiclip_core.lockstep import lockstep_step
    from flexiclip_core.optimize import ClipAnimator, fit_config_to_prior, preset

    clipart, rig = _human()
    config = fit_config_to_prior(preset("flexiclip"), prior)
    animators = [
        ClipAnimator(clipart, rig, prior, "a person dancing", config.with_overrides({"seed": seed}), device=device)
        for seed in range(clips)
    ]
    for _ in range(warmup):
        lockstep_step(animators)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        outcomes = lockstep_step(animators)
        float(sum(outcome[0] for outcome in outcomes if not isinstance(outcome, Exception)))  # sync
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def run(repeats: int = 9, device: str = "auto") -> dict[str, float]:
    """Figures on ``device`` (auto: CUDA when available; CUDA stage timings include no sync, so
    on a GPU only the per-iteration totals, which end in a host read of the loss, are exact)."""
    from flexiclip_core.devices import resolve_device
    from flexiclip_core.guidance import load_prior

    device = str(resolve_device(device))
    tiny_ms, tiny_stages = measure(load_prior("tiny", device=device), repeats=repeats, device=device)
    analytic = load_prior("analytic-gaussian", device=device)  # zero data mean, broadcast over the latents
    bare_ms, bare_stages = measure(analytic, repeats=repeats, exclude=PRIOR_STAGES, device=device)
    wan_ms, wan_stages = measure(
        load_prior("wan-tiny", device=device), repeats=min(repeats, 3), warmup=1, device=device
    )
    tiny = load_prior("tiny", device=device)
    single_ms = lockstep_ms(tiny, 1, device=device)
    k4_ms = lockstep_ms(tiny, 4, device=device)
    figures = {
        "iteration_ms_tiny_prior": tiny_ms,
        "lockstep_ms_per_clip_iteration_k4_tiny_prior": k4_ms / 4,
        "throughput_lockstep_k4_vs_single": (4 / k4_ms) / (1 / single_ms),
        "iteration_ms_excluding_prior": bare_ms,
        "iteration_ms_wan_tiny": wan_ms,
    }
    figures.update({f"iteration_stage_ms_wan_tiny.{k}": v for k, v in wan_stages.items()})
    figures.update({f"iteration_stage_ms_tiny_prior.{k}": v for k, v in tiny_stages.items()})
    figures.update({f"iteration_stage_ms_excluding_prior.{k}": v for k, v in bare_stages.items()})
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:60s} {value:10.1f}")
