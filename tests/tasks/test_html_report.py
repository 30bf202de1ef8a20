"""The run's HTML report: layout on disk, relative media links, escaping, summary, run choice.

The page is checked here by parsing it; tests/e2e/test_report_browser.py opens it in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from catalogs.errors import CatalogError
from catalogs.output import OutputCatalog
from catalogs.rows import MediaRef, OutputRow, Status
from flexiclip_core.metrics import METRIC_COLUMNS
from tasks.html_report import METRIC_INFO, media_href, render_report_html, report_folder_name, write_report
from tests.s3_server import BUCKET
from tests.tasks.report_run import HOSTILE_ERROR, HOSTILE_PROMPT, make_run

SHA = "ab" + "0" * 62


def _row(*, media: dict[str, str] | None = None, **overrides: Any) -> OutputRow:
    """A valid succeeded row of run ``r``; ``media`` maps kind → content-addressed URI."""
    fields: dict[str, Any] = {
        "run_id": "r",
        "clip_id": "c",
        "status": Status.SUCCEEDED,
        "prompt": "p",
        "idempotency_key": "1" * 64,
        "media": {kind: MediaRef(uri, SHA) for kind, uri in (media or {}).items()},
    }
    return OutputRow(**{**fields, **overrides})


@pytest.fixture(autouse=True)
def no_lottie_player(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports here are built without lottie-web unless a test ships one: whether the checkout's
    .cache/lottie-web exists (the browser tests install it) must not change what these tests see."""
    from tasks.html_report import LOTTIE_WEB_ENV

    monkeypatch.setenv(LOTTIE_WEB_ENV, str(tmp_path_factory.getbasetemp() / "no-lottie-web.js"))


class _Page(HTMLParser):
    """Collects the tags, link attributes, text and inline scripts of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def links(self) -> list[str]:
        return [
            attrs[name]
            for _, attrs in self.tags
            for name in ("src", "href", "poster", "data-fallback")
            if attrs.get(name)
        ]

    def cards(self) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == "article" and "card" in (attrs.get("class") or "")]


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "out"
    make_run(root)
    return root


def test_report_is_written_under_reports_run_with_one_card_per_clip(run_root: Path):
    uri = write_report(str(run_root), "run-0001")
    assert Path(uri) == run_root / "reports" / "run-0001" / "index.html"
    page = _parse(Path(uri).read_text(encoding="utf-8"))
    cards = page.cards()
    assert sorted(card["data-clip_id"] for card in cards) == ["animal", "broken", "human", "plant"]
    assert {card["data-clip_id"]: card["data-status"] for card in cards}["broken"] == "failed"
    # Succeeded clips play their MP4 with the poster and the animated SVG as fallbacks.
    videos = [attrs for tag, attrs in page.tags if tag == "video"]
    assert len(videos) == 3
    for video in videos:
        assert video["poster"].endswith(".png")
        assert video["data-fallback"].endswith(".svg")
        assert {"autoplay", "loop", "muted", "playsinline"} <= set(video)
    sources = [attrs for tag, attrs in page.tags if tag == "source"]
    # make_run publishes what the default export writes, as the worker does: WebM first, MP4 second.
    assert [s["src"].rsplit(".", 1)[-1] for s in sources] == ["webm", "mp4"] * 3


def test_every_link_is_relative_and_resolves_inside_the_output_root(run_root: Path, tmp_path: Path):
    # Copy the root elsewhere: links that still work prove they are relative.
    write_report(str(run_root), "run-0001")
    copy = tmp_path / "copied"
    shutil.copytree(run_root / "reports", copy / "reports")
    shutil.copytree(run_root / "media", copy / "media")
    index = copy / "reports" / "run-0001" / "index.html"
    text = index.read_text(encoding="utf-8")
    assert str(run_root) not in text
    links = _parse(text).links()
    media_links = [link for link in links if not link.startswith("data:")]
    assert len(media_links) >= 3 * 4 + 3 * 3  # 4 download links + video/poster/fallback per clip
    base = index.as_uri()
    for link in media_links:
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^/", link), link
        resolved = Path(urljoin(base, link).removeprefix("file://"))
        assert resolved.is_file(), link
        assert copy in resolved.parents
    assert all(link == "data:," for link in links if link.startswith("data:"))  # the empty favicon


def test_page_loads_nothing_external_and_csp_pins_the_only_script(run_root: Path):
    text = Path(write_report(str(run_root), "run-0001")).read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    page = _parse(text)
    assert [tag for tag, _ in page.tags].count("script") == 1
    assert [tag for tag, _ in page.tags].count("link") == 1  # the data: favicon, nothing else
    (script,) = page.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = next(attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv"))
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp


def test_shipped_lottie_player_is_the_only_other_script_and_a_file_beside_the_report(
    run_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from tasks.html_report import LOTTIE_WEB_ENV

    (tmp_path / "player.js").write_text("/* lottie */")
    monkeypatch.setenv(LOTTIE_WEB_ENV, str(tmp_path / "player.js"))
    index = Path(write_report(str(run_root), "run-0001"))
    page = _parse(index.read_text(encoding="utf-8"))
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 2 and len(page.scripts) == 1  # the inline one (hash-pinned) and lottie-web
    assert [attrs.get("src") for attrs in scripts if attrs.get("src")] == ["../assets/lottie.min.js"]
    assert (index.parent / "../assets/lottie.min.js").resolve().read_text() == "/* lottie */"
    csp = next(attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv"))
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


def test_untrusted_prompt_and_error_are_escaped(run_root: Path):
    text = Path(write_report(str(run_root), "run-0001")).read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in text and "<img src=x" not in text
    page = _parse(text)
    assert len(page.scripts) == 1 and "__pwned" not in page.scripts[0]
    words = "".join(page.text)
    assert HOSTILE_PROMPT in words  # shown verbatim as text
    assert f"SvgParseError: {HOSTILE_ERROR}" in words
    assert "<b>bold</b>" not in text  # the prompt's tags did not become tags
    assert not [tag for tag, _ in page.tags if tag == "img"]  # nor the error's (cards show <video>)


def test_summary_counts_metric_spread_wall_time_and_untrained_label(run_root: Path):
    text = Path(write_report(str(run_root), "run-0001")).read_text(encoding="utf-8")
    words = " ".join(" ".join(_parse(text).text).split())
    assert "clips: 4" in words and "succeeded: 3" in words and "failed: 1" in words and "skipped: 0" in words
    # make_run: clips start at +0/+1/+2 s and the last finishes at +7 s.
    assert "wall time: 7.0 s" in words
    # motion_vitality of the three succeeded clips is 2, 6, 12: mean 6.667, population std 4.11.
    row = re.search(r'<tr data-metric="motion_vitality">(.*?)</tr>', text).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[-5:] == ["6.667", "4.11", "2", "12", "3"]
    assert 'id="untrained-banner"' in text
    assert text.count('class="untrained"') == 4  # every card made by the tiny prior


def test_card_plays_the_transparent_webm_first_and_offers_every_file_for_download():
    kinds = {
        "video": "mp4",
        "webm": "webm",
        "webp": "webp",
        "apng": "apng",
        "lottie": "json",
        "gif": "gif",
        "svg_animation": "svg",
        "poster": "png",
        "source_svg": "svg",
        "motion": "npz",
        "config": "json",
    }
    row = _row(media={kind: f"/x/media/ab/{SHA}.{suffix}" for kind, suffix in kinds.items()})
    page = _parse(render_report_html([row], run_id="r"))
    sources = [attrs for tag, attrs in page.tags if tag == "source"]
    assert [(s["src"].rsplit(".", 1)[-1], s["type"]) for s in sources] == [
        ("webm", 'video/webm; codecs="vp9"'),
        ("mp4", "video/mp4"),
    ]
    downloads = [attrs["href"].rsplit(".", 1)[-1] for tag, attrs in page.tags if tag == "a" and "download" in attrs]
    # Every published kind, in the output-kind registry's order (flexiclip_core.output_kinds).
    assert downloads == ["mp4", "gif", "svg", "png", "json", "webm", "webp", "apng", "npz", "json", "svg"]
    only_webm = _row(media={"webm": f"/x/media/ab/{SHA}.webm"})
    assert [a["src"] for t, a in _parse(render_report_html([only_webm], run_id="r")).tags if t == "source"] == [
        f"../../media/ab/{SHA}.webm"
    ]


def test_lottie_player_is_shipped_only_when_there_is_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from catalogs.output import OutputCatalog
    from tasks.html_report import LOTTIE_WEB_ENV, ship_lottie_web

    row = _row(media={"lottie": f"/x/media/ab/{SHA}.json"})
    with_player = html.unescape(render_report_html([row], run_id="r", lottie_player="../assets/lottie.min.js"))
    assert '<script src="../assets/lottie.min.js"></script>' in with_player and "connect-src 'self'" in with_player
    assert f'data-lottie="../../media/ab/{SHA}.json"' in with_player and 'class="play-lottie"' in with_player
    without = html.unescape(render_report_html([row], run_id="r"))
    assert (
        '<script src="' not in without
        and "connect-src 'none'" in without
        and "'self';" not in without.split("script-src")[1].split("connect-src")[0]
    )
    catalog = OutputCatalog(tmp_path / "root")
    monkeypatch.setenv(LOTTIE_WEB_ENV, str(tmp_path / "absent.js"))
    assert ship_lottie_web(catalog) is None
    (tmp_path / "player.js").write_text("/* lottie */")
    monkeypatch.setenv(LOTTIE_WEB_ENV, str(tmp_path / "player.js"))
    assert ship_lottie_web(catalog) == "../assets/lottie.min.js"
    assert (tmp_path / "root" / "reports" / "assets" / "lottie.min.js").read_text() == "/* lottie */"


def test_trained_prior_has_no_untrained_label():
    row = _row(prior="modelscope@abc", prior_is_trained=True, media={"video": f"/x/media/ab/{SHA}.mp4"})
    text = render_report_html([row], run_id="r")
    assert "untrained-banner" not in text and 'class="untrained"' not in text
    assert f'src="../../media/ab/{SHA}.mp4"' in text
    assert "licence" not in text.split('class="card"')[1]  # a row without a recorded licence claims none


def test_each_card_names_the_licence_of_its_prior():
    rows = [
        _row(clip_id=c, prior=p, prior_licence=licence, prompt="x")
        for c, p, licence in (("a", "wan@1", "Apache-2.0"), ("b", "modelscope@2", "CC-BY-NC-4.0 & <x>"))
    ]
    cards = html.unescape(render_report_html(rows, run_id="r")).split('class="card"')[1:]
    assert "wan@1 <span" in cards[0] and "(licence Apache-2.0)" in cards[0] and "CC-BY" not in cards[0]
    assert "(licence CC-BY-NC-4.0 & <x>)" in cards[1]
    assert "&lt;x&gt;" in render_report_html(rows, run_id="r")  # escaped in the page itself


def test_latest_run_is_the_default_and_each_report_shows_only_its_run(tmp_path: Path):
    root = tmp_path / "out"
    make_run(root, "run-a", frames=4, size=32)
    make_run(root, "run-b", frames=4, size=32)
    latest = write_report(str(root))
    assert Path(latest) == root / "reports" / "run-b" / "index.html"
    first = Path(write_report(str(root), "run-a")).read_text(encoding="utf-8")
    assert "run run-a" in first and len(_parse(first).cards()) == 4
    assert (root / "reports" / "run-a" / "index.html").is_file()


def test_unknown_run_and_empty_catalog_raise_catalog_error(tmp_path: Path, run_root: Path):
    with pytest.raises(CatalogError, match="no row for run 'nope'"):
        write_report(str(run_root), "nope")
    with pytest.raises(CatalogError, match="no run to report"):
        write_report(str(tmp_path / "empty"))
    assert not OutputCatalog(tmp_path / "empty").exists()


def test_media_href_uses_only_the_content_address():
    assert media_href(f"/abs/root/media/ab/{SHA}.mp4") == f"../../media/ab/{SHA}.mp4"
    assert media_href(f"s3://bucket/prefix/media/ab/{SHA}.svg") == f"../../media/ab/{SHA}.svg"
    assert media_href(f"file:///C:/x/media/ab/{SHA}.tar.gz") == f"../../media/ab/{SHA}.tar.gz"
    assert media_href("/etc/passwd") is None
    assert media_href(f"/x/{SHA}.mp4?x=1") is None
    assert media_href(None) is None


def test_report_folder_name_is_one_safe_segment():
    assert report_folder_name("0b1c-uuid_1.2") == "0b1c-uuid_1.2"
    for hostile in ("../../etc", "a/b", "..", "2026-11-25T08:00:00", "", "x" * 200):
        name = report_folder_name(hostile)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name), (hostile, name)
        assert ".." not in name.split("/") and "/" not in name
    assert report_folder_name("a/b") != report_folder_name("a_b")


def test_metric_info_covers_every_metric_column():
    assert tuple(METRIC_INFO) == METRIC_COLUMNS
    assert {info.better for info in METRIC_INFO.values()} == {"higher", "lower"}


def test_report_command_prints_the_page_and_refuses_unknown_runs(run_root: Path):
    import typer
    from typer.testing import CliRunner

    from flexiclip_cli.report import report

    app = typer.Typer()
    app.command()(report)
    runner = CliRunner()
    done = runner.invoke(app, [str(run_root), "--run", "run-0001"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == str(run_root / "reports" / "run-0001" / "index.html")
    refused = runner.invoke(app, [str(run_root), "--run", "nope"])
    assert refused.exit_code == 2
    assert "no row for run 'nope'" in refused.stderr


def test_report_on_s3_is_written_beside_the_media_with_the_same_relative_links(
    tmp_path: Path, s3_options: dict, loopback_only: None
):
    from catalogs.storage import s3_filesystem, s3_path

    prefix = f"s3://{BUCKET}/report-{tmp_path.name}"
    make_run(prefix, scratch=tmp_path, storage_options=s3_options, frames=4, size=32)
    uri = write_report(prefix, storage_options=s3_options)
    assert uri == f"{prefix}/reports/run-0001/index.html"
    fs = s3_filesystem(s3_options)
    assert fs.info(s3_path(uri)).get("ContentType", "").startswith("text/html")
    page = _parse(fs.cat_file(s3_path(uri)).decode("utf-8"))
    assert len(page.cards()) == 4
    media = [link for link in page.links() if not link.startswith("data:")]
    assert len(media) >= 3 * 4 and all(link.startswith("../../media/") for link in media)
    for link in media:  # ../../ from reports/run-0001/ is the prefix itself
        assert fs.exists(s3_path(f"{prefix}/{link.removeprefix('../../')}")), link


def test_row_warnings_are_listed_escaped_under_a_folded_note():
    row = _row(warnings=("clip_identity not computed: <no weights>", "second"))
    text = render_report_html([row], run_id="r")
    assert "<summary>⚠ 2 notes</summary>" in text
    assert "<li>clip_identity not computed: &lt;no weights&gt;</li><li>second</li>" in text


def test_skipped_clip_shows_the_metrics_of_the_run_that_made_it(tmp_path: Path):
    root = tmp_path / "out"
    first = OutputRow.from_record(make_run(root, "run-a", frames=4, size=32)["human"])
    skipped = OutputRow(
        clip_id=first.clip_id,
        status=Status.SKIPPED,
        prompt=first.prompt,
        method=first.method,
        prior=first.prior,
        prior_is_trained=first.prior_is_trained,
        idempotency_key=first.idempotency_key,
        media={kind: first.media[kind] for kind in ("video", "poster")},
    )
    OutputCatalog(root).commit([skipped], run_id="run-b")
    text = Path(write_report(str(root), "run-b")).read_text(encoding="utf-8")
    (card,) = _parse(text).cards()
    assert card["data-status"] == "skipped"
    assert float(card["data-m-motion_vitality"]) == first.metrics["motion_vitality"]
    assert "already done: media and metrics from run run-a" in text


def test_a_run_beyond_one_page_writes_the_first_page_and_packs_every_card_with_its_index():
    import gzip
    import json

    from tasks.html_report import PAGE_SIZE

    rows = [
        _row(
            clip_id=f"c{index:03d}",
            idempotency_key=f"{index:064x}",
            prompt=f"A Cat <b>{index}</b>",
            seconds=float(index),
            metrics={"motion_vitality": index / 4},
        )
        for index in range(PAGE_SIZE + 5)
    ]
    text = render_report_html(rows, run_id="r")
    page = _parse(text)
    assert [card["data-clip_id"] for card in page.cards()] == [f"c{index:03d}" for index in range(PAGE_SIZE)]
    (store,) = [attrs for tag, attrs in page.tags if attrs.get("id") == "gallery-data"]
    index = json.loads(base64.b64decode(store["data-index"]))
    assert len(index) == PAGE_SIZE + 5
    # Row 137: clip id, status, seconds, lower-case search text (raw: it never becomes markup), metrics.
    motion = METRIC_COLUMNS.index("motion_vitality")
    assert index[137][:4] == ["c137", "succeeded", 137.0, "c137 a cat <b>137</b>"]
    assert index[137][4][motion] == 34.25 and index[137][4].count(None) == len(METRIC_COLUMNS) - 1
    assert json.loads(store["data-metrics"]) == list(METRIC_COLUMNS)
    packed = json.loads(gzip.decompress(base64.b64decode(store["data-cards"])))
    assert len(packed) == PAGE_SIZE + 5
    assert 'data-clip_id="c203"' in packed[203] and "A Cat &lt;b&gt;203&lt;/b&gt;" in packed[203]
    assert "".join(packed[:PAGE_SIZE]) in text and packed[PAGE_SIZE] not in text  # one writer, one page
    assert 'id="page-count">2<' in text


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_gallery_page_follows_the_process_umask_like_the_media(run_root: Path, umask: int, mode: int):
    # The page gets the mode of every published file (`published_file_mode`): 0o666 less the
    # umask, so a web server can serve it beside media/ under 022, and 077 keeps it private.
    import os
    import stat

    previous = os.umask(umask)
    try:
        index = Path(write_report(str(run_root), "run-0001"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(index.stat().st_mode) == mode
