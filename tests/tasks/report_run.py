"""Builds a small finished run in an output catalog — real media, real Delta commit — for the
report tests (without running the optimiser: a hand-made sway of the sample clipart)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from catalogs.output import OutputCatalog, code_version, idempotency_key
from catalogs.rows import MEDIA_KINDS
from flexiclip_core.export import export_animation
from flexiclip_core.metrics import METRIC_COLUMNS
from flexiclip_core.svg import parse_svg

SAMPLES = Path(__file__).resolve().parents[2] / "catalogs" / "samples"
HOSTILE_PROMPT = 'A cat <script>window.__pwned = 1</script> "quoted" & <b>bold</b> walks'
HOSTILE_ERROR = 'bad <path d="M0"> at <img src=x onerror=alert(1)>'


def sway(points: np.ndarray, frames: int, amplitude: float) -> np.ndarray:
    """[frames, P, 2]: the rest pose sheared sideways, more at the top, in a loop."""
    phase = np.sin(2 * np.pi * np.arange(frames) / frames)[:, None]  # [N, 1]
    height = (256.0 - points[None, :, 1]) / 256.0  # [1, P]
    moved = np.repeat(points[None], frames, axis=0).copy()
    moved[..., 0] += amplitude * phase * height
    return moved


def make_run(
    root: Path | str,
    run_id: str = "run-0001",
    *,
    frames: int = 8,
    size: int = 96,
    scratch: Path | None = None,
    storage_options: dict | None = None,
) -> dict[str, dict]:
    """Commit one run: three succeeded clips (distinct metric values), one failed clip.

    ``root`` is a local folder (media are exported beside it) or an s3:// URI (give ``scratch``,
    a local folder for the exports). Returns the committed rows by clip id.
    """
    catalog = OutputCatalog(root, storage_options=storage_options)
    scratch = Path(root).parent if scratch is None else scratch
    start = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    rows = []
    specs = [("human", "A person is dancing", 2.0), ("animal", HOSTILE_PROMPT, 6.0), ("plant", "A flower sways", 12.0)]
    for index, (clip_id, prompt, amplitude) in enumerate(specs):
        svg_bytes = (SAMPLES / f"{clip_id}.svg").read_bytes()
        clipart = parse_svg(svg_bytes, clip_id=clip_id)
        out = scratch / f"scratch-{run_id}-{clip_id}"
        files = export_animation(clipart, sway(clipart.control_points(), frames, amplitude), out, size=size)
        svg_sha = hashlib.sha256(svg_bytes).hexdigest()
        row = {
            "run_id": run_id,
            "clip_id": clip_id,
            "status": "succeeded",
            "svg_sha256": svg_sha,
            "prompt": prompt,
            "method": "flexiclip",
            "config_hash": "c" * 16,
            "prior": "tiny-test-prior",
            "prior_is_trained": False,
            "seed": index,
            "code_version": code_version(),
            "idempotency_key": idempotency_key(svg_sha, prompt, "c" * 16, "tiny", index, code_version()),
            "iterations": 2,
            "seconds": 1.5 + index,
            "device": "cpu",
            "started_at": start + timedelta(seconds=index),
            "finished_at": start + timedelta(seconds=3 + 2 * index),
            "warnings": '["prior \'tiny\': untrained", "clip_identity not computed: no local weights configured"]',
        }
        # Every kind the export wrote, and the source SVG, as the clip worker publishes them.
        source = out / "source.svg"
        source.write_bytes(svg_bytes)
        written = {**files, "source_svg": source}
        for kind in MEDIA_KINDS:
            if kind.name in written:
                row[kind.uri_column], row[kind.sha256_column] = catalog.put_media(written[kind.name], kind.suffix)
        for k, column in enumerate(METRIC_COLUMNS):
            row[column] = (
                None if column in ("clip_identity", "text_alignment", "identity_lpips") else amplitude * (k + 1)
            )
        rows.append(row)
    rows.append(
        {
            "run_id": run_id,
            "clip_id": "broken",
            "status": "failed",
            "error_type": "SvgParseError",
            "error_message": HOSTILE_ERROR,
            "prompt": "never animated",
            "method": "flexiclip",
            "prior": "tiny-test-prior",
            "prior_is_trained": False,
            "started_at": start,
            "finished_at": start + timedelta(seconds=1),
        }
    )
    catalog.commit(rows, run_id=run_id)
    return {row["clip_id"]: row for row in rows}
