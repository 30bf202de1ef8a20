"""The one home of the resvg comparison helpers of the svg tests (and of the clip-motion and
clip-coverage tests that borrow them): where the resvg binary is, running it, drawing the same
document ourselves (parse_svg + the final renderer in the document's own frame), and the pass mark.

resvg (the ``resvg-cli`` wheel of the test extra) is the independent reference: stricter on the
spec than CairoSVG. Pass mark per image: alpha IoU (alpha > 0.5) ≥ `MIN_IOU` and mean absolute
premultiplied RGBA difference ≤ `MAX_MEAN_ABS`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexiclip_core.render import render_document_frame
from flexiclip_core.svg import parse_svg

MIN_IOU = 0.97
"""Alpha IoU (alpha > 0.5) at or above which two images agree in shape."""
MAX_MEAN_ABS = 0.02
"""Mean absolute premultiplied RGBA difference (0–1 scale) at or below which they agree in colour."""


def resvg_binary() -> str | None:
    """The resvg executable: the one beside this interpreter (the venv's wheel), else on PATH."""
    beside = Path(sys.executable).parent / "resvg"
    return str(beside) if beside.exists() else shutil.which("resvg")


RESVG = resvg_binary()
needs_resvg = pytest.mark.skipif(RESVG is None, reason="resvg (the resvg-cli wheel, test extra) is not installed")


def run_resvg(source: Path, target: Path, width: int, timeout_s: float = 60.0) -> np.ndarray:
    """uint8 [H, width, 4] straight RGBA: resvg's drawing of the SVG file ``source`` at ``width``
    px, transparent background, written to the PNG ``target`` and read back."""
    if RESVG is None:
        raise RuntimeError("resvg (the resvg-cli wheel, test extra) is not installed")
    subprocess.run(
        [RESVG, "--width", str(width), str(source), str(target)], check=True, capture_output=True, timeout=timeout_s
    )
    return np.asarray(Image.open(target).convert("RGBA"))


def resvg_render(svg: str, width: int, tmp_path: Path) -> np.ndarray:
    """float [H, W, 4] straight RGBA in [0, 1] from resvg at ``width`` px, transparent background."""
    source = tmp_path / "reference.svg"
    source.write_text(svg)
    return run_resvg(source, tmp_path / "reference.png", width).astype(np.float64) / 255.0


def ours(svg: str, width: int) -> np.ndarray:
    """float [H, W, 4] straight RGBA in [0, 1]: parse_svg + render_document_frame."""
    clipart = parse_svg(svg.encode(), clip_id="fidelity")
    return render_document_frame(clipart, width).astype(np.float64) / 255.0


def agreement(image: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(alpha IoU, mean absolute RGBA difference) of two straight-RGBA float images [H, W, 4]."""
    assert image.shape == reference.shape
    mask, expected = image[..., 3] > 0.5, reference[..., 3] > 0.5
    union = (mask | expected).sum()
    iou = float((mask & expected).sum() / union) if union else 1.0
    # Colour of clear pixels is meaningless: compare premultiplied.
    premultiplied = np.concatenate([image[..., :3] * image[..., 3:], image[..., 3:]], axis=-1)
    premultiplied_reference = np.concatenate([reference[..., :3] * reference[..., 3:], reference[..., 3:]], axis=-1)
    return iou, float(np.abs(premultiplied - premultiplied_reference).mean())


def assert_matches_resvg(svg: str, tmp_path: Path, width: int = 100) -> None:
    """``svg`` drawn by us and by resvg at ``width`` px agree at the pass mark."""
    iou, difference = agreement(ours(svg, width), resvg_render(svg, width, tmp_path))
    assert iou >= MIN_IOU and difference <= MAX_MEAN_ABS, f"IoU {iou:.4f}, mean |ΔRGBA| {difference:.4f}"


def document(body: str, attributes: str = 'width="100" height="100"') -> str:
    """An SVG document of ``body`` (SVG and XLink namespaces declared), 100 × 100 by default."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" {attributes}>{body}</svg>'
    )
