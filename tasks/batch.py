"""Clips in lockstep on one worker (issue 14, docs/pipeline.md §6): prepare, optimise together, finish.

`ClipWorker.animate_batch` hands a worker several clips at once. Each clip is prepared alone
(`flexiclip_core.animate.prepare_clip`: parse, rig, mesh, animator: its errors are that
clip's), clips whose `lockstep_key` match are optimised together
(`flexiclip_core.lockstep.optimise_lockstep`), and each result is finished alone
(`flexiclip_core.animate.finish_clip`: export, motion arrays, metrics, JSON records): the two
halves of `animate_clip` around its optimisation; tests/tasks/test_batch.py holds the two paths
to the same files.

`auto_clips_per_worker` picks K, the clips a worker takes per call, from the device and the
GPU memory left once the prior is loaded (a pure function; the figures are in
`PER_CLIP_PEAK_GIB`).
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)

AUTO = "auto"
"""``clips_per_worker`` value: choose K from the device and its free memory."""

GIB = 1024**3

PER_CLIP_PEAK_GIB: dict[tuple[str, str], float] = {
    # Measured on an H200 (docs/pipeline.md §6): one clip at paper settings, weights included.
    ("modelscope", "flexiclip"): 9.4,
    ("modelscope", "aniclipart"): 6.6,
    # Not measured: Wan's iteration costs 1.7× ModelScope's FLOPs (docs/priors.md), mostly the
    # causal VAE's activations over 2 × 25 frames; assumed twice ModelScope's peak until measured.
    ("wan", "flexiclip"): 18.8,
    ("wan", "aniclipart"): 13.2,
    # Toy priors: well under a GiB; rounded up.
    ("tiny", "flexiclip"): 1.0,
    ("tiny", "aniclipart"): 1.0,
    ("wan-tiny", "flexiclip"): 1.0,
    ("wan-tiny", "aniclipart"): 1.0,
}
"""GPU memory one clip needs (GiB), per (prior name, preset family). The single-clip peak
includes the weights, which a batch shares: counting them once per clip is part of the margin."""

UNKNOWN_PEAK_GIB = 18.8
"""A prior not in the table gets the largest real-size figure."""

MEMORY_HEADROOM = 1.25
"""Each clip's estimate is multiplied by this (allocator fragmentation, compile workspaces)."""

MAX_CLIPS_PER_WORKER = 8
"""``auto`` never goes above this: the measured prior batch gains flatten out by 12 samples
(4 clips × 3 guidance samples), and a larger batch only delays every clip's row."""


def preset_family(method: str) -> str:
    """``aniclipart`` (one video, no Jacobians) or ``flexiclip`` (every other preset, the larger)."""
    return "aniclipart" if method == "aniclipart" else "flexiclip"


def per_clip_gib(prior_name: str, methods: set[str] | list[str] | tuple[str, ...]) -> float:
    """The largest `PER_CLIP_PEAK_GIB` figure over ``methods`` for ``prior_name``."""
    families = {preset_family(m) for m in methods} or {"flexiclip"}
    return max(PER_CLIP_PEAK_GIB.get((prior_name, family), UNKNOWN_PEAK_GIB) for family in families)


def auto_clips_per_worker(
    device: str,
    free_bytes: int | None,
    prior_name: str,
    methods: set[str] | list[str] | tuple[str, ...] = ("flexiclip",),
    *,
    gpu_share: float = 1.0,
) -> int:
    """K for ``clips_per_worker="auto"``: 1 on CPU; on CUDA as many clips as fit the free memory.

    ``free_bytes``: the worker's free GPU memory with its prior loaded (None: unknown → 1);
    ``gpu_share``: the worker's fraction of that GPU (actors sharing a GPU share its memory).
    K = floor(free · share / (per-clip GiB · headroom)), between 1 and `MAX_CLIPS_PER_WORKER`.
    """
    if not device.startswith("cuda") or free_bytes is None or free_bytes <= 0:
        return 1  # a CPU runs clips one after the other either way: batching gains nothing there
    share = min(max(gpu_share, 0.0), 1.0) or 1.0
    need = per_clip_gib(prior_name, methods) * MEMORY_HEADROOM * GIB
    return max(1, min(MAX_CLIPS_PER_WORKER, math.floor(free_bytes * share / need)))


def resolve_clips_per_worker(value: int | str) -> int | str:
    """Validate a ``clips_per_worker`` setting: a positive int (also as text), or ``auto``.

    Raises `ConfigError` (bad input, exit status 2) for anything else.
    """
    from flexiclip_core.errors import ConfigError

    number: object = value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        number = int(text) if text.isdigit() else None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ConfigError(f"clips_per_worker must be a positive integer or 'auto', got {value!r}")
    return number
