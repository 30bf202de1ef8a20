"""Clips in lockstep on one worker (issue 14, docs/pipeline.md §6): prepare, optimise together, finish.

`ClipWorker.animate_batch` hands a worker several clips at once. Each clip is prepared alone
(`flexiclip_core.animate.prepare_clip`: parse, rig, mesh, animator: its errors are that
clip's), clips whose `lockstep_key` match are optimised together
(`flexiclip_core.lockstep.optimise_lockstep`), and each result is finished alone
(`flexiclip_core.animate.finish_clip`: export, motion arrays, metrics, JSON records): the two
halves of `animate_clip` around its optimisation; tests/tasks/test_batch.py holds the two paths
to the same files.

`auto_clips_per_worker` picks K, the clips a worker takes per call, from the device and the
GPU memory left once the prior is loaded (a pure function; the figures are in `PEAK_TABLE`,
read from per_clip_peaks.json). `card_too_small` is the refusal of a card that cannot hold one
clip, before any clip starts.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

AUTO = "auto"
"""``clips_per_worker`` value: choose K from the device and its free memory."""

GIB = 1024**3

PEAKS_FILE = Path(__file__).with_name("per_clip_peaks.json")
"""The per-clip peak table (`bench.gpu --update-peaks` refreshes it from a GPU run)."""

ANY_DTYPE = "any"


@dataclass(frozen=True)
class PeakFigure:
    """One row of the peak table: GPU memory one clip needs, and where the figure comes from."""

    prior: str
    family: str
    """``flexiclip`` or ``aniclipart`` (`preset_family`)."""
    vae_dtype: str
    """The VAE dtype it holds for (``bfloat16``, ``float32``), or ``any``."""
    gib: float
    """The single-clip peak in GiB, weights included (a batch shares them: counting them once
    per clip is part of the margin)."""
    source: str
    """``measured`` (by `bench.gpu`, on ``device``) or ``derived`` (an estimate; see ``note``)."""
    device: str | None = None
    date: str | None = None
    note: str = ""


def load_peak_table(path: Path = PEAKS_FILE) -> dict[tuple[str, str, str], PeakFigure]:
    """The table at ``path``, keyed by (prior, family, vae dtype)."""
    rows = json.loads(path.read_text())["peaks"]
    return {(row["prior"], row["family"], row["vae_dtype"]): PeakFigure(**row) for row in rows}


PEAK_TABLE = load_peak_table()

UNKNOWN_PEAK_GIB = max(figure.gib for figure in PEAK_TABLE.values())
"""A prior not in the table gets the largest figure of the table."""

MEMORY_HEADROOM = 1.25
"""Each clip's estimate is multiplied by this (allocator fragmentation, compile workspaces)."""

MAX_CLIPS_PER_WORKER = 8
"""``auto`` never goes above this: the measured prior batch gains flatten out by 12 samples
(4 clips × 3 guidance samples), and a larger batch only delays every clip's row."""


def preset_family(method: str) -> str:
    """``aniclipart`` (one video, no Jacobians) or ``flexiclip`` (every other preset, the larger)."""
    return "aniclipart" if method == "aniclipart" else "flexiclip"


def peak_figure(prior_name: str, family: str, vae_dtype: str = ANY_DTYPE) -> PeakFigure | None:
    """The table's figure for the prior, family and VAE dtype (the ``any`` row when there is no
    dtype-specific one; for an unknown dtype the largest of the prior's rows); None when absent."""
    for dtype in (vae_dtype, ANY_DTYPE):
        if (prior_name, family, dtype) in PEAK_TABLE:
            return PEAK_TABLE[(prior_name, family, dtype)]
    rows = [figure for key, figure in PEAK_TABLE.items() if key[:2] == (prior_name, family)]
    return max(rows, key=lambda figure: figure.gib) if rows else None


def per_clip_gib(prior_name: str, methods: set[str] | list[str] | tuple[str, ...], vae_dtype: str = ANY_DTYPE) -> float:
    """The largest peak-table figure over ``methods`` for ``prior_name`` (and its VAE dtype)."""
    families = {preset_family(m) for m in methods} or {"flexiclip"}
    figures = [peak_figure(prior_name, family, vae_dtype) for family in families]
    return max(figure.gib if figure is not None else UNKNOWN_PEAK_GIB for figure in figures)


def auto_clips_per_worker(
    device: str,
    free_bytes: int | None,
    prior_name: str,
    methods: set[str] | list[str] | tuple[str, ...] = ("flexiclip",),
    *,
    gpu_share: float = 1.0,
    vae_dtype: str = ANY_DTYPE,
) -> int:
    """K for ``clips_per_worker="auto"``: 1 on CPU; on CUDA as many clips as fit the free memory.

    ``free_bytes``: the worker's free GPU memory with its prior loaded (None: unknown → 1);
    ``gpu_share``: the worker's fraction of that GPU (actors sharing a GPU share its memory).
    K = floor(free · share / (per-clip GiB · headroom)), between 1 and `MAX_CLIPS_PER_WORKER`.
    """
    if not device.startswith("cuda") or free_bytes is None or free_bytes <= 0:
        return 1  # a CPU runs clips one after the other either way: batching gains nothing there
    share = min(max(gpu_share, 0.0), 1.0) or 1.0
    need = per_clip_gib(prior_name, methods, vae_dtype) * MEMORY_HEADROOM * GIB
    return max(1, min(MAX_CLIPS_PER_WORKER, math.floor(free_bytes * share / need)))


def card_too_small(
    device: str,
    free_bytes: int | None,
    prior_bytes: int,
    prior_name: str,
    methods: set[str] | list[str] | tuple[str, ...],
    vae_dtype: str = ANY_DTYPE,
    gpu_name: str = "",
) -> str | None:
    """Why one clip cannot fit this worker's GPU (one line), or None when it can or on CPU.

    The card holds ``free_bytes`` free plus ``prior_bytes`` the loaded prior already occupies;
    one clip needs its peak-table figure (weights included), without the packing headroom: a
    card is refused only when even one clip would run out of memory.
    """
    if not device.startswith("cuda") or free_bytes is None:
        return None
    families = sorted({preset_family(m) for m in methods} or {"flexiclip"})
    method = max(families, key=lambda family: per_clip_gib(prior_name, [family], vae_dtype))
    need_gib = per_clip_gib(prior_name, [method], vae_dtype)
    have_gib = (free_bytes + max(prior_bytes, 0)) / GIB
    if have_gib >= need_gib:
        return None
    dtype = f", VAE {vae_dtype}" if vae_dtype != ANY_DTYPE else ""
    card = f" on {gpu_name}" if gpu_name else ""
    return (
        f"prior {prior_name} ({method}{dtype}) needs {need_gib:.1f} GiB of GPU memory per clip, the card{card} "
        f"has {have_gib:.1f} GiB for the prior and its clips: refusing to start (use a larger card, or "
        "tasks/per_clip_peaks.json's figures are wrong for it: refresh them with `bench.gpu --update-peaks`)"
    )


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
