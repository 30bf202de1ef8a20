"""The evaluation's HTML page in headless Chromium (tests/e2e/browser.py): it opens offline from
a file:// URL, every distribution plot decodes, each group has its table with the static-input
column, and an untrusted category name stays text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks import evaluate as ev
from tasks.evaluation_report import write_evaluation
from tests.e2e.browser import Browser, require_chromium

pytestmark = pytest.mark.slow

HOSTILE = '<img src=x onerror="window.__pwned=1">'


def synthetic_evaluation() -> ev.Evaluation:
    rng = __import__("numpy").random.default_rng(3)

    def run(label: str, scale: float, static: bool = False) -> ev.RunResult:
        clips = []
        for index in range(6):
            values: dict[str, float | None] = {c: float(scale * rng.uniform(0.5, 1.5)) for c in ev.EVALUATED_COLUMNS}
            values["clip_identity"] = None  # a learned metric without weights
            category = HOSTILE if index % 2 else "human"
            clips.append(
                ev.ClipResult(f"clip-{index}", "a person waving", category, values, {"clip_identity": "no weights"})
            )
        return ev.RunResult(label=label, clips=tuple(clips), run_id=label, static=static)

    return ev.aggregate([run("flexiclip", 1.0), run(ev.STATIC_LABEL, 0.0, True), run("aniclipart", 0.8)])


def test_the_evaluation_page_opens_offline_with_every_plot_and_table(tmp_path: Path):
    written = write_evaluation(synthetic_evaluation(), tmp_path / "evaluation")
    with Browser(require_chromium()) as browser:
        browser.navigate(written["index.html"].resolve().as_uri())
        state = browser.evaluate(
            """(function () {
              var plots = Array.prototype.slice.call(document.querySelectorAll("img.plot"));
              return {
                plots: plots.map(function (img) { return [img.dataset.metric, img.complete && img.naturalWidth > 0]; }),
                tables: document.querySelectorAll("table").length,
                headers: Array.prototype.map.call(document.querySelectorAll("table tr:first-child"),
                                                  function (tr) { return tr.textContent; }),
                pwned: window.__pwned === undefined ? null : window.__pwned,
                text: document.body.textContent
              };
            })()"""
        )
        requests = [params["request"]["url"] for params in browser.recorded("Network.requestWillBeSent")]
        errors = browser.console_errors()
    assert len(state["plots"]) == len(ev.EVALUATED_COLUMNS) - 1  # clip_identity has no values: no plot
    assert all(loaded for _, loaded in state["plots"]), state["plots"]
    assert state["tables"] == 3  # overall, human and the hostile category
    assert all("static input" in header for header in state["headers"])
    assert state["pwned"] is None and HOSTILE in state["text"]
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert errors == []
