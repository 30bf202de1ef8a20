"""End to end: the pipeline on four sample clips and a row that fails (tiny prior), then its report
in headless Chromium.

Chromium is Debian's ``chromium`` (scripts/install_chromium.sh), driven over the DevTools
protocol (tests/e2e/browser.py). The report is opened from a COPY of ``reports/`` + ``media/``
(proving its links are relative) by file:// and over a loopback HTTP server (the static-bucket
case). Checked: no console error, no request outside the copied output folder, one card per
clip, every video has a non-zero duration and plays, sorting by a metric reorders the cards,
filtering by status hides the others, the untrusted prompt's <script> did not run. A screenshot
is saved to artifacts/report_screenshot.png.
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from flexiclip_core.metrics import METRIC_COLUMNS
from tasks.html_report import latest_run_id, report_folder_name, write_report
from tests.e2e.browser import Browser, require_chromium
from tests.flows.harness import FAST_SETTINGS, describe, pipeline_env, run_cli, sample_rows, write_catalog

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
HOSTILE_PROMPT = "A cat <script>window.__pwned = 1</script> is walking & swishing its tail"
VIDEO_FIT_ROW_CONFIG = {
    "method": "video-fit",
    "objective": "video-fit",
    "flow_loss": False,
    "augment": False,
    "schedule.loop_count": 0,
    "video_fit.registration_steps": 10,
    "video_fit.refine_steps": [1, 0, 0],
    "video_fit.refine_render_size": [64, 64, 64],
}
"""The video-fit preset's differences from flexiclip, as one row's overrides, at the fewest steps."""

pytestmark = pytest.mark.slow


REPORT_CLIPS = ["human", "animal", "plant", "object"]
"""The sample clips the run animates: enough for a metric to vary and the cards to reorder."""
MISSING_CLIP = "missing"
"""A row whose SVG does not exist: it fails, so the status filter has two non-empty answers."""
FITTED_CLIP = "human-video"
"""A row fitted to catalogs/samples/human_wave.mp4 (video-fit): its card shows reference | result."""


def _catalog_with_hostile_prompt(folder: Path) -> Path:
    """Four sample clips (one with an untrusted prompt containing <script>), a row that fails and a
    row fitted to the sample video."""
    rows = sample_rows(folder, REPORT_CLIPS)
    for row in rows:
        if row["clip_id"] == "animal":
            row["prompt"] = HOSTILE_PROMPT
    rows.append({"clip_id": MISSING_CLIP, "svg_uri": "missing.svg", "prompt": "a drawing that is not there"})
    # One clip fitted to the sample video (its row's config switches it to video-fit, the fewest
    # steps; the human sample's own rig): its card shows reference | result.
    (human,) = [row for row in rows if row["clip_id"] == "human"]
    fitted = dict(human, clip_id=FITTED_CLIP, prompt="fitted to human_wave.mp4")
    fitted["config"] = json.dumps(VIDEO_FIT_ROW_CONFIG)
    fitted["reference_video"] = str(REPO / "catalogs" / "samples" / "human_wave.mp4")
    rows.append(fitted)
    return write_catalog(folder / "catalog.parquet", rows)


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> dict:
    """Run `flexiclip run CATALOG --output ROOT --prior tiny --iterations 2` (small training render,
    8 frames; the page is under test, not the motion: the exports keep their profile's size) on
    the tests' shared Prefect server, and write the report."""
    require_chromium()
    work = tmp_path_factory.mktemp("e2e_report")
    catalog = _catalog_with_hostile_prompt(work / "in")
    root = work / "out"
    env = pipeline_env(work, PREFECT_API_URL=prefect_api)
    finished = run_cli(env, "run", str(catalog), "--output", str(root), "--workers", "1", *FAST_SETTINGS, timeout=900)
    # 1: the missing drawing failed (its row says why), the others succeeded.
    assert finished.returncode == 1, describe(finished)
    output = OutputCatalog(root)
    run_id = latest_run_id(output)
    assert run_id is not None, finished.stdout[-3000:] + finished.stderr[-3000:]
    # The flow wrote the report at the end of the run; `write_report` for the latest run
    # rewrites the same file with the same content (nothing in the page depends on when).
    index = root / "reports" / report_folder_name(run_id) / "index.html"
    assert index.is_file(), "the run did not write its HTML report"
    written_by_flow = index.read_bytes()
    assert Path(write_report(str(root))) == index
    assert index.read_bytes() == written_by_flow
    frame = output.read()
    rows = frame[frame["run_id"] == run_id].to_dict("records")
    statuses = {row["clip_id"]: row["status"] for row in rows}
    assert statuses == {**dict.fromkeys([*REPORT_CLIPS, FITTED_CLIP], "succeeded"), MISSING_CLIP: "failed"}, rows
    # Review a copy: only reports/ and media/, somewhere else — relative links must still work.
    copy = work / "copied"
    shutil.copytree(root / "reports", copy / "reports")
    shutil.copytree(root / "media", copy / "media")
    return {"rows": rows, "copy": copy, "index": copy / index.relative_to(root), "run_id": run_id}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(require_chromium()) as instance:
        yield instance


@pytest.fixture(scope="module")
def http_root(pipeline_run: dict) -> Iterator[str]:
    """The copied output folder served over http://127.0.0.1:PORT (like a static bucket)."""
    handler = functools.partial(_QuietHandler, directory=str(pipeline_run["copy"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        return


_MEDIA_STATE = """
new Promise(function (resolve) {
  var videos = Array.prototype.slice.call(document.querySelectorAll("#cards video:not(.reference)"));
  function ready(video) {
    if (video.readyState >= 1 || video.error) { return Promise.resolve(); }
    return new Promise(function (done) {
      video.addEventListener("loadedmetadata", done, {once: true});
      video.addEventListener("error", done, {once: true});
    });
  }
  Promise.all(videos.map(ready)).then(function () {
    var first = videos.map(function (v) { return v.currentTime; });
    setTimeout(function () {
      resolve(videos.map(function (v, i) {
        var card = v.closest(".card");
        return {clip: card.getAttribute("data-clip_id"), duration: v.duration, error: v.error && v.error.code,
                paused: v.paused, advanced: v.currentTime !== first[i]};
      }));
    }, 600);
  });
})
"""

_ORDER = """
(function (key, direction) {
  var sortKey = document.getElementById("sort-key"), sortDir = document.getElementById("sort-dir");
  sortKey.value = key; sortDir.value = direction;
  sortDir.dispatchEvent(new Event("change"));
  return Array.prototype.map.call(document.querySelectorAll("#cards .card:not(.hidden)"),
                                  function (card) { return card.getAttribute("data-clip_id"); });
})(%r, %r)
"""

_FILTER = """
(function (status) {
  var select = document.getElementById("filter-status");
  select.value = status; select.dispatchEvent(new Event("change"));
  var shown = Array.prototype.map.call(document.querySelectorAll("#cards .card:not(.hidden)"),
                                       function (card) { return card.getAttribute("data-clip_id"); });
  select.value = ""; select.dispatchEvent(new Event("change"));
  return shown;
})(%r)
"""


def _expected_order(rows: list[dict], column: str, descending: bool) -> list[str]:
    def value(row: dict) -> float | None:
        number = row.get(column)
        return None if number is None or (isinstance(number, float) and math.isnan(number)) else float(number)

    present = sorted((row for row in rows if value(row) is not None), key=lambda r: (value(r), r["clip_id"]))
    if descending:  # stable sort in the page: ties keep clip-id order
        present = sorted(present, key=lambda r: (-value(r), r["clip_id"]))
    missing = sorted((row for row in rows if value(row) is None), key=lambda r: r["clip_id"])
    return [row["clip_id"] for row in present + missing]


def _open(browser: Browser, url: str) -> None:
    browser.clear_events()  # a fresh record per page
    browser.navigate(url)


def _check_page(browser: Browser, pipeline_run: dict, base_url: str) -> None:
    rows = pipeline_run["rows"]
    clip_ids = sorted(row["clip_id"] for row in rows)
    succeeded = sorted(row["clip_id"] for row in rows if row["status"] == "succeeded")

    # One card per clip of the run, in clip-id order at first.
    initial = browser.evaluate(_ORDER % ("clip_id", "asc"))
    assert initial == clip_ids

    # Every succeeded clip plays its MP4: known, non-zero duration, and time moves.
    media = browser.evaluate(_MEDIA_STATE, timeout=60)
    assert sorted(item["clip"] for item in media) == succeeded
    for item in media:
        assert item["error"] is None, item
        assert item["duration"] is not None and 0 < item["duration"] < 1e6, item
        assert item["advanced"] and not item["paused"], item

    # The video-fit card shows its reference beside its result, and the reference plays too.
    references = browser.evaluate(_MEDIA_STATE.replace("video:not(.reference)", "figure > video.reference"), timeout=60)
    assert [item["clip"] for item in references] == ["human-video"]
    assert references[0]["error"] is None and 0 < references[0]["duration"] < 1e6 and references[0]["advanced"]
    assert browser.evaluate("document.querySelector('.side-by-side video:not(.reference)') !== null") is True

    # Sorting by a metric reorders the cards exactly as the catalog's values say.
    varying = [
        c for c in METRIC_COLUMNS if len({r[c] for r in rows if r.get(c) == r.get(c) and r.get(c) is not None}) >= 2
    ]
    assert varying, "no metric varies across the clips"
    column = varying[0]
    ascending = browser.evaluate(_ORDER % (f"m-{column}", "asc"))
    descending = browser.evaluate(_ORDER % (f"m-{column}", "desc"))
    assert ascending == _expected_order(rows, column, descending=False)
    assert descending == _expected_order(rows, column, descending=True)
    assert ascending != initial or descending != initial

    # Filtering by status shows exactly the clips with that status.
    for status in ("succeeded", "failed"):
        assert sorted(browser.evaluate(_FILTER % status)) == sorted(r["clip_id"] for r in rows if r["status"] == status)

    # The untrusted prompt is shown as text and its script never ran.
    assert browser.evaluate("window.__pwned === undefined") is True
    texts = browser.evaluate(
        "Array.prototype.map.call(document.querySelectorAll('.prompt'), function (p) { return p.textContent; })"
    )
    assert HOSTILE_PROMPT in texts

    # Nothing but the output folder was requested, nothing failed, nothing was logged as an error.
    requests = [params["request"]["url"] for params in browser.recorded("Network.requestWillBeSent")]
    assert any(url.endswith((".webm", ".mp4")) for url in requests)  # the transparent WebM plays first
    outside = [url for url in requests if not url.startswith(base_url + "/") and url != "data:,"]
    assert outside == []
    failed = [(params.get("errorText"), params.get("type")) for params in browser.recorded("Network.loadingFailed")]
    assert [f for f in failed if f[0] != "net::ERR_ABORTED"] == []  # aborted: a video's preload range cancelled
    assert browser.console_errors() == []


def test_report_from_a_copied_folder_in_chromium(browser: Browser, pipeline_run: dict):
    index: Path = pipeline_run["index"]
    _open(browser, index.as_uri())
    _check_page(browser, pipeline_run, pipeline_run["copy"].as_uri())
    # Back to the first order for a readable screenshot, then keep it as the test's artifact.
    browser.evaluate(_ORDER % ("clip_id", "asc"))
    shot = browser.screenshot(ARTIFACTS / "report_screenshot.png")
    assert shot.stat().st_size > 10_000


def test_report_served_over_http_like_a_static_bucket(browser: Browser, pipeline_run: dict, http_root: str):
    relative = pipeline_run["index"].relative_to(pipeline_run["copy"]).as_posix()
    _open(browser, f"{http_root}/{relative}")
    _check_page(browser, pipeline_run, http_root)
