"""The report plays a clip's transparent WebM and, on request, its Lottie with the shipped lottie-web.

A run made by tests/tasks/report_run.py (real media, real commit), plus cards whose rows carry
WebM and Lottie media (the columns those kinds get in the catalog), served over a loopback HTTP
server as a static bucket would serve it. lottie-web comes from .cache/lottie-web
(scripts/install_lottie_web.sh) and is copied beside the report by `ship_lottie_web`.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import threading
import time
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from catalogs.rows import MediaRef, OutputRow, Status
from tasks.html_report import LOTTIE_WEB_ENV, render_report_html, ship_lottie_web
from tests.e2e.browser import Browser, chromium_path
from tests.e2e.test_lottie_browser import LOTTIE_WEB_DIR, REPO, _required
from tests.tasks.report_run import make_run

pytestmark = pytest.mark.slow


def test_report_plays_webm_and_lottie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = chromium_path()
    if executable is None:
        _required("chromium is not installed (run scripts/install_chromium.sh)")
    if not (LOTTIE_WEB_DIR / "lottie.min.js").is_file():
        subprocess.run([str(REPO / "scripts" / "install_lottie_web.sh"), str(LOTTIE_WEB_DIR)], check=False, timeout=300)
        if not (LOTTIE_WEB_DIR / "lottie.min.js").is_file():
            _required("lottie-web could not be installed")
    monkeypatch.setenv(LOTTIE_WEB_ENV, str(LOTTIE_WEB_DIR / "lottie.min.js"))
    root = tmp_path / "out"
    make_run(root, frames=4, size=64)  # its exports also wrote video.webm and animation.json
    catalog = OutputCatalog(root)
    rows = []
    for clip in ("human", "plant"):
        scratch = tmp_path / f"scratch-run-0001-{clip}"
        media = {
            kind: MediaRef(*catalog.put_media(scratch / name, suffix))
            for kind, name, suffix in (
                ("video", "video.mp4", ".mp4"),
                ("webm", "video.webm", ".webm"),
                ("lottie", "animation.json", ".json"),
            )
        }
        key = hashlib.sha256(clip.encode()).hexdigest()
        rows.append(
            OutputRow(clip_id=clip, status=Status.SUCCEEDED, run_id="r", prompt="p", idempotency_key=key, media=media)
        )
    player = ship_lottie_web(catalog)
    assert player == "../assets/lottie.min.js" and (root / "reports" / "assets" / "lottie.min.js").is_file()
    page = root / "reports" / "r" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(render_report_html(rows, run_id="r", lottie_player=player), encoding="utf-8")

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Browser(executable) as browser:
            browser.navigate(f"{base}/reports/r/index.html")
            playing = browser.evaluate("""Promise.all(Array.prototype.map.call(document.querySelectorAll('#cards video'),
              v => new Promise(done => { if (v.readyState >= 1) { done(); return; }
                v.addEventListener('loadedmetadata', done); setTimeout(done, 10000); })
              .then(() => ({src: v.currentSrc, duration: v.duration}))))""")
            assert [item["src"].rsplit(".", 1)[-1] for item in playing] == ["webm", "webm"]  # the transparent one
            assert all(0 < item["duration"] < 10 for item in playing)
            browser.evaluate("document.querySelector('button.play-lottie').click(); true")
            deadline = time.monotonic() + 20
            state = None
            while time.monotonic() < deadline:
                state = browser.evaluate("""(() => { var card = document.querySelectorAll('.card')[0];
                  return [card.querySelector('button.play-lottie').textContent,
                          card.querySelectorAll('.media svg path').length]; })()""")
                if state[0] == "playing Lottie" and state[1] > 0:
                    break
                time.sleep(0.2)
            assert state[0] == "playing Lottie" and state[1] > 0, state
            assert browser.console_errors() == []
            urls = [event["request"]["url"] for event in browser.recorded("Network.requestWillBeSent")]
            assert urls and all(url.startswith(base) for url in urls), urls
    finally:
        server.shutdown()
