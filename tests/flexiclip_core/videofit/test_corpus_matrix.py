"""The known-answer matrix on openclipart files (issue 21): corpus drawings with their automatic
rig, a known motion rendered by the final renderer at 256², encoded as H.264, fitted back with
the full preset (loop none) by `bench.videofit.matrix_case`, the same case as
`python -m bench.videofit --matrix --drawing <path> --motion family|sway --variant mp4`.

Only files that passed both motions with margin in the runs of 2026-12-07 are held here
(docs/method.md §13, "Known answers on the 20 openclipart files" and "The sway with skinning
weights", has every file's figures and why the others miss); clown_loach's sway passes since the
skinning weights (0.77 / 3.39 → 0.56 / 1.52 px; family 0.32 / 0.75 px, IoU min 0.985).
make test-full only: each fit is a minute or more of one CPU core.
"""

from __future__ import annotations

import pytest

from bench.videofit import matrix_case, matrix_drawing

HELD: tuple[str, ...] = (
    "people/a_boy_plays_soccer_01.svg",
    "animals/mammals/housecats/gatto_nero_architetto_fr_01.svg",
    "animals/fish/clown_loach_01.svg",
)
"""Corpus files (under the corpus's svg/ folder) whose family and sway fits passed with margin."""


@pytest.fixture(scope="module")
def drawings():
    return {name: matrix_drawing(name) for name in HELD}


@pytest.mark.slow
@pytest.mark.corpus_full  # 6 fits, 40–221 s each at load 5–7 (~900 s in all): make test-full
@pytest.mark.parametrize("motion", ["family", "sway"])
@pytest.mark.parametrize("name", HELD)
def test_corpus_known_answer(drawings, tmp_path, name, motion):
    """Control points within the issue's bounds (mean ≤ 1 px, p95 ≤ 3 px). Mask: the family's
    worst frame IoU ≥ 0.97 as the issue asks; the sway, as the sample human's matrix, IoU mean
    ≥ 0.92 (its turned limb is sheared, docs/method.md §13 (a)); both within 1 px of the
    reference's mask (1-px agreement ≥ 0.99 in every frame)."""
    clipart, rig = drawings[name]
    figures = matrix_case(clipart, rig, motion, "mp4", tmp_path)
    assert figures["mean_px"] <= 1.0 and figures["p95_px"] <= 3.0, figures
    if motion == "family":
        assert figures["iou_min"] >= 0.97, figures
    else:
        assert figures["iou_mean"] >= 0.92, figures
    assert figures["agreement_1px_min"] >= 0.99, figures
