"""Real-world corpus test: rig + mesh + binding over openclipart people/ and animals/.

Every file that parses must rig, mesh and bind (≥ 95 %), with no unbound control point and every
mesh piece holding a handle; a failure must be a specific RigError / MeshError naming the clip.
The summary (success rate, failure reasons, size distributions, seconds per clip) goes to
artifacts/corpus_rig_mesh.json. `make test` runs the same checks on the committed sample
(tests/data/corpus_sample.txt, summary in artifacts/corpus_rig_mesh_sample.json); the whole
folders run in `make test-full`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from flexiclip_core.binding import bind_points
from flexiclip_core.errors import MeshError, RigError, SvgParseError
from flexiclip_core.mesh import build_mesh, mesh_pieces
from flexiclip_core.rig import auto_rig
from flexiclip_core.silhouette import SilhouetteConfig, build_silhouette
from flexiclip_core.svg import parse_svg
from tests.conftest import REPO_ROOT, openclipart_files, openclipart_root

SUMMARY_PATH = REPO_ROOT / "artifacts" / "corpus_rig_mesh.json"
SAMPLE_SUMMARY_PATH = REPO_ROOT / "artifacts" / "corpus_rig_mesh_sample.json"


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {
        name: round(float(np.percentile(array, q)), 3)
        for name, q in [("min", 0), ("p05", 5), ("median", 50), ("p95", 95), ("max", 100)]
    } | {"mean": round(float(array.mean()), 3)}


def failure_kind(error: Exception) -> str:
    """A short reason class: the error type plus the message without numbers or names."""
    reason = getattr(error, "reason", str(error))
    words = [w for w in reason.split() if not any(ch.isdigit() for ch in w) and "'" not in w]
    return f"{type(error).__name__}: {' '.join(words[:8])}"


def check_rig_mesh_bind(files: list[Path], summary_path: Path, min_parsed: int) -> None:
    """Rig, mesh and bind every file of ``files`` that parses; summary to ``summary_path``."""
    root = openclipart_root()
    parsed = 0
    successes: list[dict] = []
    failures: list[dict] = []
    for path in files:
        try:
            clipart = parse_svg(path)
        except SvgParseError:
            continue
        parsed += 1
        start = time.perf_counter()
        try:
            rig = auto_rig(clipart)
            mesh = build_mesh(clipart, rig)
            binding = bind_points(mesh, clipart, rig)
        except (RigError, MeshError) as error:
            assert error.clip, f"{path.name}: {type(error).__name__} without the clip: {error}"
            failures.append({"file": str(path.relative_to(root)), "kind": failure_kind(error), "message": str(error)})
            continue
        seconds = time.perf_counter() - start
        # Every success: nothing unbound, every mesh piece holds a handle, every silhouette
        # component holds a keypoint.
        assert binding.unbound_points == 0, path.name
        piece = mesh_pieces(mesh)
        assert set(piece[mesh.handle_vertices].tolist()) == set(piece.tolist()), path.name
        silhouette = build_silhouette(clipart, rig.layers[0].shape_indices, SilhouetteConfig())
        rows, cols = silhouette.to_pixel(rig.keypoints)
        assert set(silhouette.labels[rows, cols].tolist()) >= set(range(1, silhouette.component_count + 1)), path.name
        successes.append(
            {
                "file": str(path.relative_to(root)),
                "keypoints": len(rig.keypoints),
                "bones": len(rig.bones),
                "components": silhouette.component_count,
                "vertices": mesh.vertex_count,
                "faces": mesh.face_count,
                "control_points": clipart.point_count,
                "seconds": seconds,
            }
        )
    rate = len(successes) / max(parsed, 1)
    summary = {
        "corpus": "openclipart people/ + animals/" if summary_path == SUMMARY_PATH else "tests/data/corpus_sample.txt",
        "files": len(files),
        "parsed": parsed,
        "succeeded": len(successes),
        "success_rate": round(rate, 4),
        "failures_by_kind": dict(Counter(f["kind"] for f in failures).most_common()),
        "failures": failures,
        "keypoints": percentiles([s["keypoints"] for s in successes]),
        "keypoints_within_6_20": round(float(np.mean([6 <= s["keypoints"] <= 20 for s in successes])), 4)
        if successes
        else 0.0,
        "components": percentiles([s["components"] for s in successes]),
        "vertices": percentiles([s["vertices"] for s in successes]),
        "faces": percentiles([s["faces"] for s in successes]),
        "seconds_per_clip": percentiles([s["seconds"] for s in successes]),
        "slowest": sorted(
            (
                {"file": s["file"], "seconds": round(s["seconds"], 3), "control_points": s["control_points"]}
                for s in successes
            ),
            key=lambda s: -s["seconds"],
        )[:10],
    }
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2))
    assert parsed >= min_parsed
    assert rate >= 0.95, f"only {rate:.1%} of parsed files rigged+meshed+bound; see {summary_path}"


@pytest.mark.slow
def test_rig_mesh_bind_succeed_on_the_corpus_sample(corpus_sample: list[Path]):
    check_rig_mesh_bind(corpus_sample, SAMPLE_SUMMARY_PATH, min_parsed=len(corpus_sample) - 3)


@pytest.mark.slow
@pytest.mark.corpus_full
def test_rig_mesh_bind_succeed_on_openclipart_people_and_animals():
    files = openclipart_files("people", "animals")
    assert len(files) > 600, "the corpus is present"
    check_rig_mesh_bind(files, SUMMARY_PATH, min_parsed=500)


def test_summary_helpers():
    assert percentiles([1.0, 2.0, 3.0])["median"] == 2.0
    assert percentiles([]) == {}
    kind = failure_kind(MeshError("3 control point(s) lie outside the mesh", clip="x"))
    assert kind == "MeshError: control point(s) lie outside the mesh"
