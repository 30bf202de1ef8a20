"""Catalog hygiene at nightly scale (local Delta): the latest succeeded row per key, the media
existence check, null media cells read through pandas, and Delta maintenance next to a writer."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalogs.errors import CatalogError
from catalogs.output import OutputCatalog, idempotency_key
from catalogs.rows import MEDIA_KINDS, MediaRef, OutputRow, Status

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def key_for(clip: str) -> str:
    return idempotency_key("0" * 64, f"prompt {clip}", "cfg", "tiny", 0, "v1")


def with_media(
    catalog: OutputCatalog, folder: Path, clip: str, *, version: str = "1", kinds=MEDIA_KINDS
) -> dict[str, MediaRef]:
    folder.mkdir(parents=True, exist_ok=True)
    media = {}
    for kind in kinds:
        path = folder / f"{clip}-{version}{kind.suffix}"
        path.write_bytes(f"{clip} {kind.name} {version}".encode())
        media[kind.name] = MediaRef(*catalog.put_media(path, kind.suffix))
    return media


def row(clip: str, status: Status = Status.SUCCEEDED, *, finished: int = 0, **fields) -> OutputRow:
    return OutputRow(
        clip_id=clip,
        status=status,
        idempotency_key=key_for(clip),
        prompt=f"prompt {clip}",
        finished_at=T0 + timedelta(minutes=finished),
        **fields,
    )


def test_latest_succeeded_keeps_the_newest_succeeded_row_of_the_asked_keys(tmp_path: Path):
    catalog = OutputCatalog(tmp_path / "out")
    old = with_media(catalog, tmp_path / "files", "a", version="old")
    new = with_media(catalog, tmp_path / "files", "a", version="new")
    catalog.commit([row("a", media=old, finished=1), row("b", media=old, finished=1)], run_id="run-1")
    catalog.commit([row("a", Status.SKIPPED, media=old, finished=2)], run_id="run-2")
    catalog.commit([row("a", media=new, finished=3), row("c", Status.FAILED, finished=3)], run_id="forced")
    latest = catalog.latest_succeeded({key_for("a"), key_for("c")})
    assert set(latest) == {key_for("a")}  # c never succeeded; b was not asked for
    assert latest[key_for("a")].media == new and latest[key_for("a")].run_id == "forced"
    assert set(catalog.latest_succeeded()) == {key_for("a"), key_for("b")}
    assert OutputCatalog(tmp_path / "empty").latest_succeeded({key_for("a")}) == {}


def test_a_null_media_cell_read_through_pandas_is_copied_as_null(tmp_path: Path):
    # A succeeded row without a GIF: pandas reads its null string cell as NaN; a skipped row built
    # from that record must still commit (it used to fail with "column 'gif_uri' cannot hold nan").
    catalog = OutputCatalog(tmp_path / "out")
    media = with_media(catalog, tmp_path / "files", "a", kinds=[k for k in MEDIA_KINDS if k.name != "gif"])
    catalog.commit([row("a", media=media)], run_id="run-1")
    (record,) = catalog.read(status="succeeded").to_dict("records")
    assert record["gif_uri"] != record["gif_uri"]  # NaN: the hazard is real
    previous = OutputRow.from_record(record)
    assert "gif" not in previous.media
    skipped = row("a", Status.SKIPPED, media=previous.media)
    assert catalog.commit([skipped], run_id="run-2") == 1
    assert (
        catalog.commit([row("a", Status.SKIPPED, media=catalog.latest_succeeded()[key_for("a")].media)], run_id="run-3")
        == 2
    )


def test_missing_media_names_the_objects_that_are_gone(tmp_path: Path):
    catalog = OutputCatalog(tmp_path / "out")
    media_a = with_media(catalog, tmp_path / "files", "a")
    media_b = with_media(catalog, tmp_path / "files", "b")
    rows = {key_for("a"): row("a", media=media_a), key_for("b"): row("b", media=media_b), key_for("c"): row("c")}
    assert catalog.missing_media(rows) == {key_for("c"): ["no media recorded"]}
    Path(media_b["gif"].uri).unlink()
    missing = catalog.missing_media(rows)
    assert set(missing) == {key_for("b"), key_for("c")}
    (reason,) = missing[key_for("b")]
    assert reason.startswith("gif ") and media_b["gif"].uri in reason


# ---------------------------------------------------------------------------------------------
# Maintenance


def test_compact_merges_small_files_and_keeps_rows_and_time_travel(tmp_path: Path):
    catalog = OutputCatalog(tmp_path / "out")
    for run in range(6):
        catalog.commit([row(f"c{run}-{i}", Status.FAILED, finished=run) for i in range(3)], run_id=f"run-{run}")
    before = catalog.read().sort_values("clip_id")["clip_id"].tolist()
    files_before = len(catalog._table().file_uris())
    result = catalog.compact()
    assert files_before == 6 and len(catalog._table().file_uris()) == 1
    assert result["files_removed"] == 6 and result["files_added"] == 1 and result["retain_days"] == 7
    assert result["vacuumed"] == []  # the replaced files are still inside the retention window
    assert catalog.read().sort_values("clip_id")["clip_id"].tolist() == before
    assert sorted(catalog.read(version=2)["clip_id"]) == sorted(f"c{r}-{i}" for r in range(3) for i in range(3))
    assert [h["operation"] for h in catalog.history()][-1] in ("OPTIMIZE", "VACUUM END")
    assert [h["run_id"] for h in catalog.history() if h["run_id"]] == [f"run-{r}" for r in range(6)]


def test_compact_refuses_a_retention_shorter_than_the_guard(tmp_path: Path):
    catalog = OutputCatalog(tmp_path / "out")
    catalog.commit([row("a", Status.FAILED)], run_id="run-1")
    with pytest.raises(CatalogError, match="at least 1 day"):
        catalog.compact(retain_days=0.5)
    with pytest.raises(CatalogError, match="no output catalog"):
        OutputCatalog(tmp_path / "nothing").compact()


def _keep_committing(root: str, runs: int, results) -> None:
    """A nightly job stand-in in its own process: one commit per run, as fast as it can."""
    catalog = OutputCatalog(root)
    try:
        for run in range(runs):
            catalog.commit([row(f"w{run}-{i}", Status.FAILED, finished=run) for i in range(2)], run_id=f"writer-{run}")
        results.put("ok")
    except Exception as error:  # reported to the parent, which fails the test with it
        results.put(repr(error))


@pytest.mark.slow
def test_compact_next_to_a_committing_job_loses_and_duplicates_nothing(tmp_path: Path):
    root = str(tmp_path / "out")
    catalog = OutputCatalog(root)
    for run in range(4):
        catalog.commit([row(f"seed{run}", Status.FAILED)], run_id=f"seed-{run}")
    context = multiprocessing.get_context("spawn")  # forking after deltalake was used panics
    results = context.Queue()
    writer = context.Process(target=_keep_committing, args=(root, 12, results))
    writer.start()
    try:
        compactions = 0
        while writer.is_alive() and compactions < 20:
            catalog.compact()
            compactions += 1
            time.sleep(0.05)
        outcome = results.get(timeout=240)
    finally:
        writer.join(timeout=60)
        if writer.is_alive():
            writer.terminate()
    assert outcome == "ok" and compactions >= 1
    catalog.compact()
    clips = catalog.read()["clip_id"].tolist()
    expected = [f"seed{r}" for r in range(4)] + [f"w{r}-{i}" for r in range(12) for i in range(2)]
    assert sorted(clips) == sorted(expected)  # every row once
    assert {f"writer-{r}" for r in range(12)} <= {h["run_id"] for h in catalog.history()}


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(13, "Forbidden (HTTP 403)"),
        TimeoutError("HEAD timed out after 30 s"),
        CatalogError("s3 endpoint unreachable"),
        RuntimeError("botocore: an unexpected response"),
    ],
    ids=["permission", "timeout", "catalog-error", "other"],
)
def test_a_media_check_that_fails_counts_the_media_as_missing_and_says_so(tmp_path: Path, monkeypatch, caplog, error):
    # A check that cannot answer must not vouch for the object: the clip is redone, not skipped forever.
    catalog = OutputCatalog(tmp_path / "out")
    media = with_media(catalog, tmp_path / "files", "a", kinds=[k for k in MEDIA_KINDS if k.name == "gif"])
    rows = {key_for("a"): row("a", media=media)}
    assert catalog.missing_media(rows) == {}

    def failing(uri: str) -> bool:
        raise error

    monkeypatch.setattr(catalog.media, "exists", failing)
    with caplog.at_level("WARNING", logger="catalogs.media_store"):
        assert catalog.missing_media(rows) == {key_for("a"): [f"gif {media['gif'].uri}"]}
    (message,) = [r.getMessage() for r in caplog.records if "existence check failed" in r.getMessage()]
    assert type(error).__name__ in message and "counted as missing" in message and media["gif"].uri in message


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_published_media_follow_the_process_umask(tmp_path: Path, umask: int, mode: int):
    import os
    import stat

    source = tmp_path / "clip.mp4"
    source.write_bytes(b"video bytes")
    previous = os.umask(umask)
    try:
        uri, _ = OutputCatalog(tmp_path / "out").put_media(source, ".mp4")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(uri).st_mode) == mode
