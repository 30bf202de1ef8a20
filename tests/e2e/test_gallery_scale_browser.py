"""The gallery of a 10,000-clip run in headless Chromium: paged, searched, filtered, sorted.

The page is `render_report_html` of 10,000 synthetic rows (no media: playback is
tests/e2e/test_report_browser.py's subject), opened by file://. Checked against the rows
themselves: one page of `PAGE_SIZE` cards at a time in clip-id order, paging forward, to the
last page and back to the first, search over clip id and prompt, the status filter, sorting by a metric in both
directions (missing values last, ties in clip-id order), and no console error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from catalogs.rows import OutputRow, Status
from tasks.html_report import PAGE_SIZE, render_report_html
from tests.e2e.browser import Browser, require_chromium

ROWS = 10_000
ANIMALS = ("cat", "dog", "horse", "bird", "fish")

pytestmark = pytest.mark.slow


def _rows() -> list[OutputRow]:
    rows = []
    for index in range(ROWS):
        failed = index % 20 == 19
        rows.append(
            OutputRow(
                run_id="scale",
                clip_id=f"clip-{index:05d}",
                status=Status.FAILED if failed else Status.SKIPPED if index % 7 == 3 else Status.SUCCEEDED,
                prompt=f"a {ANIMALS[index % len(ANIMALS)]} waving, take {index}",
                idempotency_key=f"{index:064x}",
                error_type="SvgParseError" if failed else None,
                error_message=f"clip-{index:05d}: broken path" if failed else None,
                # A permutation of 0..10006 over the rows: distinct values in a scrambled order.
                metrics={} if failed else {"motion_vitality": (index * 7919) % 10007 / 100.0},
            )
        )
    return rows


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, list[OutputRow]]]:
    executable = require_chromium()
    rows = _rows()
    page = tmp_path_factory.mktemp("gallery_scale") / "reports" / "scale" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(render_report_html(rows, run_id="scale"), encoding="utf-8")
    with Browser(executable) as browser:
        browser.navigate(page.as_uri())
        browser.evaluate(_LOADED, timeout=60)
        yield browser, rows


_LOADED = """new Promise(function (done) {
  (function wait() {
    if (document.getElementById("cards").getAttribute("data-cards") === "loaded") { done(true); }
    else { setTimeout(wait, 50); }
  })();
})"""

_STATE = """(function () {
  return {cards: Array.prototype.map.call(document.querySelectorAll("#cards .card"),
                                          function (card) { return card.getAttribute("data-clip_id"); }),
          shown: document.getElementById("shown").textContent,
          page: document.getElementById("page-number").textContent,
          pages: document.getElementById("page-count").textContent,
          state: document.getElementById("cards").getAttribute("data-state")};
})()"""

_SET = (
    """(function (values) {
  var element = null;
  Object.keys(values).forEach(function (id) { element = document.getElementById(id); element.value = values[id]; });
  element.dispatchEvent(new Event(element.id === "search" ? "input" : "change"));
  return STATE;
})(VALUES)"""
).replace("STATE", _STATE)


def _set(browser: Browser, element: str, value: str, **others: str) -> dict:
    """Set ``others`` (element id → value) quietly, then ``element`` with its event; the page's state."""
    return browser.evaluate(_SET.replace("VALUES", json.dumps({**others, element: value})))


def _click(browser: Browser, element: str) -> dict:
    click = f"document.getElementById({json.dumps(element)}).click();"
    return browser.evaluate(f"(function () {{ {click} return {_STATE}; }})()")


def _reset(browser: Browser) -> dict:
    return _set(browser, "sort-dir", "asc", **{"search": "", "filter-status": "", "sort-key": "clip_id"})


def _ids(rows: list[OutputRow]) -> list[str]:
    return [row.clip_id or "" for row in rows]


def test_a_10k_gallery_shows_one_page_at_a_time_and_pages(gallery):
    browser, rows = gallery
    first = _reset(browser)
    assert first["cards"] == _ids(rows[:PAGE_SIZE])
    assert (first["shown"], first["page"], first["pages"]) == ("10000", "1", "50")
    second = _click(browser, "page-next")
    assert second["cards"] == _ids(rows[PAGE_SIZE : 2 * PAGE_SIZE]) and second["page"] == "2"
    last = _click(browser, "page-last")
    assert last["cards"] == _ids(rows[-PAGE_SIZE:]) and last["page"] == "50"
    assert _click(browser, "page-next")["page"] == "50"  # past the end: the last page stays
    assert _click(browser, "page-first")["cards"] == first["cards"]
    assert browser.console_errors() == []


def test_search_filter_and_sort_cover_every_row_not_just_the_page(gallery):
    browser, rows = gallery
    _reset(browser)
    # Search: case-insensitive substring of clip id, prompt or error, over all 10,000 rows.
    found = _set(browser, "search", "Take 777")
    expected = [row for row in rows if "take 777" in (row.prompt or "")]  # take 777, 7770..7779
    assert found["cards"] == _ids(expected) and found["shown"] == "11" and found["pages"] == "1"
    assert _set(browser, "search", "clip-09999")["cards"] == ["clip-09999"]
    _set(browser, "search", "")
    # Status filter: the 500 failed rows, a page of them at a time.
    failed = _set(browser, "filter-status", "failed")
    failed_rows = [row for row in rows if row.status is Status.FAILED]
    assert failed["cards"] == _ids(failed_rows[:PAGE_SIZE])
    assert (failed["shown"], failed["pages"]) == ("500", "3")
    _set(browser, "filter-status", "")
    # Sort by a metric: highest first over every row, failed rows (no value) last.
    _set(browser, "sort-key", "m-motion_vitality")
    descending = _set(browser, "sort-dir", "desc")
    measured = sorted(
        (row for row in rows if row.metrics), key=lambda row: (-(row.metrics["motion_vitality"] or 0.0), row.clip_id)
    )
    assert descending["cards"] == _ids(measured[:PAGE_SIZE])
    ascending = _set(browser, "sort-dir", "asc")
    assert ascending["cards"] == _ids(measured[::-1][:PAGE_SIZE])
    last = _click(browser, "page-last")
    assert last["cards"] == _ids(failed_rows[-PAGE_SIZE:])  # no value: last, in clip-id order
    assert browser.console_errors() == []
