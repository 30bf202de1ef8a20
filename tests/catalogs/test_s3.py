"""Catalogs on S3, against a local moto server run as a separate process (127.0.0.1 only).

moto runs as its own process: its in-process threaded server can deadlock with
DeltaTable.history() (seen with moto 5.2 and deltalake 1.6).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest

from catalogs.build_sample_catalog import SAMPLE_CATALOG
from catalogs.errors import CatalogError, SvgSourceError
from catalogs.input import read_catalog, read_svg_bytes
from catalogs.output import OutputCatalog, idempotency_key
from catalogs.storage import fsspec_storage_options, s3_filesystem, storage_options_from_env
from flexiclip_core.errors import SvgLimitExceeded

SAMPLES_DIR = SAMPLE_CATALOG.parent


def _upload_samples(options: dict, prefix: str) -> None:
    fs = s3_filesystem(options)
    for path in [SAMPLE_CATALOG, *sorted(SAMPLES_DIR.glob("*.svg"))]:
        fs.put_file(str(path), f"{prefix.removeprefix('s3://')}/{path.name}")


def _row(clip: str, status: str = "succeeded", **extra) -> dict:
    row = {
        "clip_id": clip,
        "status": status,
        "idempotency_key": idempotency_key(clip, "p", "cfg", "test", 0, "v"),
        "prompt": "p",
        "prior_is_trained": False,
    }
    row.update(extra)
    return row


def test_sample_catalog_read_from_s3(s3_options, prefix, loopback_only):
    _upload_samples(s3_options, prefix)
    rows, errors = read_catalog(f"{prefix}/clipart.parquet", storage_options=s3_options)
    assert errors == [] and len(rows) == 8
    human = next(row for row in rows if row.clip_id == "human")
    assert human.svg_uri == f"{prefix}/human.svg" and human.keypoints.shape == (13, 2)
    for row in rows:
        assert (
            read_svg_bytes(row.svg_uri, storage_options=s3_options)
            == (SAMPLES_DIR / Path(row.svg_uri).name).read_bytes()
        )
    with pytest.raises(SvgLimitExceeded):
        read_svg_bytes(human.svg_uri, storage_options=s3_options, max_bytes=100)
    with pytest.raises(SvgSourceError, match="no such object"):
        read_svg_bytes(f"{prefix}/absent.svg", storage_options=s3_options)
    with pytest.raises(CatalogError, match="no such file"):
        read_catalog(f"{prefix}/absent.parquet", storage_options=s3_options)


def test_output_catalog_on_s3(s3_options, prefix, tmp_path: Path, loopback_only):
    catalog = OutputCatalog(prefix + "/out/", storage_options=s3_options)
    assert catalog.root == prefix + "/out" and catalog.history() == []

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video, but bytes all the same")
    uri, digest = catalog.put_media(video, ".mp4")
    assert uri == f"{prefix}/out/media/{digest[:2]}/{digest}.mp4"
    assert catalog.put_media(video, ".mp4") == (uri, digest)
    fs = s3_filesystem(s3_options)
    fs.invalidate_cache()
    assert fs.find(f"{prefix.removeprefix('s3://')}/out/media") == [uri.removeprefix("s3://")]
    assert fs.cat_file(uri.removeprefix("s3://")) == video.read_bytes()

    catalog.stage(_row("a", video_uri=uri, video_sha256=digest))
    fresh = OutputCatalog(prefix + "/out", storage_options=fsspec_storage_options(s3_options))  # s3fs spelling
    assert list(fresh.staged().values())[0].media["video"].uri == uri

    v0 = fresh.commit(list(fresh.staged().values()), run_id="s3-run-1")
    time.sleep(0.01)
    v1 = catalog.commit(
        [_row("b"), _row("c", "failed", idempotency_key=None, error_type="RigError")], run_id="s3-run-2"
    )
    assert (v0, v1) == (0, 1)
    assert catalog.staged() == {}
    history = catalog.history()
    assert [(h["version"], h["run_id"], h["row_count"]) for h in history] == [(0, "s3-run-1", 1), (1, "s3-run-2", 2)]
    assert list(catalog.read(version=0)["clip_id"]) == ["a"]
    assert list(catalog.read(as_of=history[0]["timestamp"])["video_uri"]) == [uri]
    assert sorted(catalog.read()["clip_id"]) == ["a", "b", "c"]
    assert catalog.succeeded_keys() == {_row("a")["idempotency_key"], _row("b")["idempotency_key"]}


def test_storage_options_from_env_reach_s3(s3_options, prefix, monkeypatch, tmp_path: Path, loopback_only):
    for name, value in s3_options.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ALLOW_HTTP")  # implied by the http:// endpoint
    options = storage_options_from_env()
    assert options == s3_options
    catalog = OutputCatalog(prefix, storage_options=options)
    assert catalog.commit([_row("env")], run_id="env-run") == 0
    local = tmp_path / "copy.parquet"
    shutil.copy(SAMPLE_CATALOG, local)
    s3_filesystem(options).put_file(str(local), f"{prefix.removeprefix('s3://')}/cat.parquet")
    s3_filesystem(options).pipe_file(f"{prefix.removeprefix('s3://')}/empty.parquet", _empty_parquet())
    with pytest.raises(CatalogError, match="missing required"):
        read_catalog(f"{prefix}/empty.parquet", storage_options=options)
    # The sample's SVGs are not uploaded here: validation does not look for them.
    rows, errors = read_catalog(f"{prefix}/cat.parquet", storage_options=options)
    assert len(rows) == 8 and errors == [] and rows[0].svg_uri == f"{prefix}/human.svg"


def _empty_parquet() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"other": [1]}), buffer)
    return buffer.getvalue()


def _commit_in_child(root: str, options: dict, run_id: str, clips: list[str], barrier, results) -> None:
    """Runs in a spawned process: import everything, wait for the other writer, then commit."""
    import deltalake  # noqa: F401  (loaded before the barrier so both commits start together)

    catalog = OutputCatalog(root, storage_options=options)
    rows = [_row(clip) for clip in clips]
    barrier.wait(timeout=120)
    try:
        results.put((run_id, catalog.commit(rows, run_id=run_id)))
    except Exception as error:  # reported to the parent, which fails the test with it
        results.put((run_id, repr(error)))


@pytest.mark.slow
def test_concurrent_commits_on_s3_both_land(s3_options, prefix):
    root = prefix + "/out"
    OutputCatalog(root, storage_options=s3_options).commit([_row("first")], run_id="run-0")
    context = multiprocessing.get_context("spawn")  # forking after deltalake was used panics
    barrier = context.Barrier(2)
    results = context.Queue()
    writers = [
        context.Process(target=_commit_in_child, args=(root, s3_options, run, clips, barrier, results))
        for run, clips in (("run-A", ["a1", "a2"]), ("run-B", ["b1"]))
    ]
    for writer in writers:
        writer.start()
    try:
        outcome = dict(results.get(timeout=180) for _ in writers)
    finally:
        for writer in writers:
            writer.join(timeout=30)
            if writer.is_alive():
                writer.terminate()
    assert sorted(outcome.values()) == [1, 2], outcome
    catalog = OutputCatalog(root, storage_options=s3_options)
    assert {h["run_id"] for h in catalog.history()} == {"run-0", "run-A", "run-B"}
    assert sorted(catalog.read()["clip_id"]) == ["a1", "a2", "b1", "first"]


def test_missing_media_on_s3_finds_deleted_objects(s3_options, prefix, tmp_path: Path, loopback_only):
    from catalogs.rows import MediaRef, OutputRow

    catalog = OutputCatalog(prefix + "/out", storage_options=s3_options)
    media = {}
    for kind, suffix in (("video", ".mp4"), ("gif", ".gif")):
        path = tmp_path / f"a{suffix}"
        path.write_bytes(f"{kind} bytes".encode())
        media[kind] = MediaRef(*catalog.put_media(path, suffix))
    key = _row("a")["idempotency_key"]
    row = OutputRow(clip_id="a", status="succeeded", idempotency_key=key, media=media)
    assert catalog.missing_media({key: row}) == {}
    assert catalog.media_exists(media["gif"].uri)
    s3_filesystem(s3_options).rm_file(media["gif"].uri.removeprefix("s3://"))
    assert catalog.missing_media({key: row}) == {key: [f"gif {media['gif'].uri}"]}


def test_stale_probes_on_s3_are_removed_and_live_ones_kept(s3_options, prefix, loopback_only):
    import socket

    from tasks.liveness import owner_token
    from tasks.preflight import PROBE_FOLDER, remove_stale_probes

    catalog = OutputCatalog(prefix + "/out", storage_options=s3_options)
    fs = s3_filesystem(s3_options)
    folder = f"{prefix.removeprefix('s3://')}/out/{PROBE_FOLDER}"
    dead = f"{socket.gethostname()}:999999999:1"  # no such pid: its run is gone
    fs.pipe_file(f"{folder}/probe-dead", f"{socket.gethostname()} 999999999 {dead}\n".encode())
    fs.pipe_file(f"{folder}/probe-live", f"{socket.gethostname()} {os.getpid()} {owner_token()}\n".encode())
    fs.pipe_file(f"{folder}/probe-mine", b"whatever\n")
    assert remove_stale_probes(catalog, keep=f"{PROBE_FOLDER}/probe-mine") == [f"{PROBE_FOLDER}/probe-dead"]
    fs.invalidate_cache()
    assert sorted(path.rsplit("/", 1)[-1] for path in fs.ls(folder, detail=False)) == ["probe-live", "probe-mine"]
