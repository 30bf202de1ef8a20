"""`flexiclip run --method video-fit` end to end (issue 21): supplied reference videos (a local
path and an ``s3://`` object on the shared moto server) fitted on Ray actors, bad references
failing their own row with one line while the run goes on, the gallery showing reference |
result, and `dataset export` carrying the reference and its provenance.

One run, kept small: the fewest frames, registration and refinement steps the preset takes
(`FIT_SETTINGS`); the bad files are refused before any fit (planner or decoder) but one, the
reference of another drawing, which is refused at registration.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from catalogs.dataset import export_dataset
from catalogs.storage import s3_filesystem, s3_path
from tests.flows.harness import SAMPLES_DIR, pipeline_env, read_rows, run_cli, sample_rows, write_catalog

pytestmark = pytest.mark.slow

FIT_SETTINGS: list[str] = [
    "--method",
    "video-fit",
    "--prior",
    "tiny",
    "--workers",
    "1",
    "--set",
    "schedule.frame_count=8",
    "--set",
    "video_fit.registration_steps=10",
    "--set",
    "video_fit.refine_steps=[1,0,0]",
    "--set",
    "video_fit.refine_render_size=[64,64,64]",
]
"""A fit of a few seconds: 8 frames, 10 registration steps, one refinement step at 64²."""

WAVE = SAMPLES_DIR / "human_wave.mp4"


def _zero_frame_webm(path: Path) -> Path:
    """A WebM with a video stream and its header but not one frame."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
    return path


def test_video_fit_run_with_supplied_references(tmp_path: Path, s3_options: dict, prefix: str, prefect_api: str):
    folder = tmp_path / "in"
    (human,) = sample_rows(folder, ["human"])
    (animal,) = sample_rows(folder, ["animal"])
    (folder / "wave.mp4").write_bytes(WAVE.read_bytes())
    (folder / "corrupt.mp4").write_bytes(WAVE.read_bytes()[:64] + b"\x00garbage" * 100)
    (folder / "empty.mp4").write_bytes(b"")
    _zero_frame_webm(folder / "zero.webm")
    s3_wave = f"{prefix}/refs/wave-copy.mp4"
    s3_filesystem(s3_options).pipe_file(s3_path(s3_wave), WAVE.read_bytes())

    def row(clip_id: str, reference: str | None, base: dict = human, **extra: object) -> dict:
        return {**base, "clip_id": clip_id, "reference_video": reference, **extra}

    rows = [
        row("local", "wave.mp4", reference_licence="CC0-1.0"),
        row("from-s3", s3_wave, prompt="the same wave, read from S3"),
        row("corrupt", "corrupt.mp4"),
        row("empty", "empty.mp4"),
        row("zero-frames", "zero.webm"),
        row("oversized", "wave.mp4", config=json.dumps({"video_fit.limits.max_file_bytes": 1000})),
        row("no-reference", None),
        row("other-drawing", "wave.mp4", base=animal),
        # Issue 21 item 2b: no reference, one generated on the actor by the tiny generator.
        row("generated", None, config=json.dumps({"video_fit.generator": "wan-vace-tiny"})),
    ]
    write_catalog(folder / "catalog.parquet", rows)
    root = tmp_path / "out"
    env = pipeline_env(tmp_path, PREFECT_API_URL=prefect_api, **s3_options)

    result = run_cli(env, "run", str(folder / "catalog.parquet"), "--output", str(root), *FIT_SETTINGS)

    assert result.returncode == 1, result.stdout + result.stderr  # some clips failed, the run did not
    by_id = {r["clip_id"]: r for r in read_rows(root)}
    assert set(by_id) == {r["clip_id"] for r in rows}
    wave_sha = hashlib.sha256(WAVE.read_bytes()).hexdigest()
    for clip_id, uri in (("local", str(folder / "wave.mp4")), ("from-s3", s3_wave)):
        fitted = by_id[clip_id]
        assert fitted["status"] == "succeeded", fitted["error_message"]
        assert fitted["method"] == "video-fit" and fitted["prior"] == "reference:supplied"
        assert fitted["reference_input_uri"] == uri and fitted["reference_source"] == "supplied"
        assert fitted["reference_sha256"] == wave_sha
        # The published copy is content-addressed by the same bytes.
        assert Path(fitted["reference_video_uri"]).name == f"{wave_sha}.mp4"
        assert Path(fitted["reference_video_uri"]).read_bytes() == WAVE.read_bytes()
        assert 0.5 < fitted["fit_mask_iou_min"] <= fitted["fit_mask_iou_mean"] <= 1.0
        assert fitted["fit_psnr"] > 15 and fitted["fit_flow_residual_px"] >= 0
        assert fitted["registration_iou"] >= 0.85
    assert by_id["local"]["reference_licence"] == "CC0-1.0"
    assert by_id["from-s3"]["reference_licence"] == "user-supplied"
    # Same bytes, different prompt: the reference's hash is in both keys, the prompt tells them apart.
    assert by_id["local"]["idempotency_key"] != by_id["from-s3"]["idempotency_key"]

    failures = {
        "corrupt": "'corrupt.mp4' cannot be decoded",
        "empty": "'empty.mp4' is empty",
        "zero-frames": "'zero.webm' cannot be decoded",
        "oversized": "'wave.mp4' is 19363 bytes, over the 1000-byte limit",
        "no-reference": "needs a reference video and column 'reference_video' is empty",
        "other-drawing": "its first frame does not contain the drawing",
    }
    for clip_id, message in failures.items():
        failed = by_id[clip_id]
        assert failed["status"] == "failed", clip_id
        assert failed["error_message"].startswith(f"clip {clip_id!r}: ") and message in failed["error_message"]
        assert "\n" not in failed["error_message"]
    assert by_id["other-drawing"]["error_type"] == "RegistrationError"
    generated = by_id["generated"]
    assert generated["status"] == "succeeded", generated["error_message"]
    assert generated["prior"] == "reference:generated:wan-vace-tiny"
    assert generated["reference_seed"] == generated["seed"]
    assert generated["reference_source"] == "generated:wan-vace-tiny" and generated["reference_licence"] == "n/a"
    stored = Path(generated["reference_video_uri"])
    assert stored.name == f"{generated['reference_sha256']}.png" and stored.parent.parent == root / "media"
    assert json.loads(generated["reference_candidates"]) == [{"seed": generated["seed"], "uri": str(stored)}]
    (record,) = [json.loads(p.read_text()) for p in (root / "media" / "generated").rglob("*.json")]
    assert record["uri"] == str(stored) and record["generator"] == "wan-vace-tiny"
    assert record["seed"] == generated["seed"] and record["licence"] == "n/a"

    # The gallery: reference | result for the fitted rows, the reference linked from ROOT/media.
    (report,) = (root / "reports").glob("*/index.html")
    page = report.read_text()
    assert page.count('class="side-by-side"') == 3  # two supplied, one generated
    assert f"../../media/{wave_sha[:2]}/{wave_sha}.mp4" in page

    # The dataset carries the reference's bytes and its provenance.
    export_dataset(str(root), str(tmp_path / "dataset"), format="webdataset")
    with tarfile.open(tmp_path / "dataset" / "shard-00000.tar") as tar:
        members = {member.name: tar.extractfile(member).read() for member in tar.getmembers()}
    references = [name for name in members if ".reference_video." in name]
    assert len(references) == 3  # the generated row's reference too
    supplied = [name for name in references if not name.startswith("generated-")]
    assert len(supplied) == 2 and all(members[name] == WAVE.read_bytes() for name in supplied)
    sample = json.loads(next(data for name, data in members.items() if name.startswith("local-")))
    assert sample["reference_source"] == "supplied" and sample["reference_sha256"] == wave_sha
    assert sample["reference_licence"] == "CC0-1.0" and sample["media_sha256"]["reference_video"] == wave_sha
    assert sample["fit_mask_iou_mean"] == pytest.approx(by_id["local"]["fit_mask_iou_mean"])
