"""The exported Lottie played by lottie-web in headless Chromium matches the final renderer.

lottie-web (npm, MIT) is fetched once by scripts/install_lottie_web.sh into .cache/lottie-web and
loaded from that local file; the page requests nothing else. For sample clips with a smooth,
non-rigid deformation, the ``animation.json`` written by `export_animation` is played with the
SVG renderer, stopped at three frames and screenshotted over a transparent page; each frame's
alpha must overlap the final renderer's (alpha ≥ 128) with IoU ≥ 0.97, and where both are
opaque the colours must agree (95th percentile of the channel difference ≤ 8), which also
checks opacity and that strokes lie over their fills.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexiclip_core.export import ExportConfig, export_animation, lottie_schema_errors
from flexiclip_core.render import render_frames
from flexiclip_core.svg import parse_svg
from tests.conftest import SAMPLES_DIR
from tests.e2e.browser import Browser, chromium_path

REPO = Path(__file__).resolve().parents[2]
LOTTIE_WEB_DIR = REPO / ".cache" / "lottie-web"
SIZE = 256
FRAME_COUNT = 12
CHECKED_FRAMES = (0, 5, 11)

pytestmark = pytest.mark.slow


def _required(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("FLEXICLIP_REQUIRE_CHROMIUM"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        _required("chromium is not installed (run scripts/install_chromium.sh)")
    if not (LOTTIE_WEB_DIR / "lottie.min.js").is_file():
        installed = subprocess.run(
            [str(REPO / "scripts" / "install_lottie_web.sh"), str(LOTTIE_WEB_DIR)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            _required(f"lottie-web could not be installed: {installed.stderr.strip()[-500:]}")
    with Browser(executable) as opened:
        # A transparent page, so the screenshot's alpha is the animation's alpha.
        opened.command(
            "Emulation.setDefaultBackgroundColorOverride", {"color": {"r": 0, "g": 0, "b": 0, "a": 0}}, session=True
        )
        yield opened


def swaying_frames(rest: np.ndarray, frame_count: int) -> np.ndarray:
    """[N, P, 2]: a non-rigid sway (shear growing downwards) and a breathing scale about the centre."""
    frames = []
    for index in range(frame_count):
        phase = 2 * np.pi * index / frame_count
        pose = rest.copy()
        pose[:, 0] += 14 * np.sin(phase) * (rest[:, 1] / 256) ** 2
        pose[:, 1] = 128 + (rest[:, 1] - 128) * (1 + 0.06 * np.sin(phase))
        frames.append(pose)
    return np.stack(frames)


def alpha_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 128, b >= 128
    return float((a & b).sum() / max((a | b).sum(), 1))


def lottie_frames(browser: Browser, page: Path, animation: dict, frames: tuple[int, ...]) -> list[np.ndarray]:
    """RGBA [S, S, 4] of lottie-web's SVG renderer stopped at each of ``frames``."""
    browser.clear_events()
    browser.navigate(page.as_uri())
    assert browser.evaluate("typeof lottie") == "object", browser.console_errors()
    browser.evaluate(
        "window.anim = lottie.loadAnimation({container: document.getElementById('stage'), renderer: 'svg',"
        f" loop: true, autoplay: false, animationData: {json.dumps(animation)}}}); true"
    )
    alphas = []
    for frame in frames:
        # goToAndStop(frame, true) takes a frame number; two animation frames let the SVG settle.
        browser.evaluate(
            f"new Promise(done => {{ anim.goToAndStop({frame}, true);"
            " requestAnimationFrame(() => requestAnimationFrame(() => done(true))); })"
        )
        shot = browser.command(
            "Page.captureScreenshot",
            {
                "format": "png",
                "clip": {"x": 0, "y": 0, "width": SIZE, "height": SIZE, "scale": 1},
            },
            session=True,
        )
        image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGBA")
        assert image.size == (SIZE, SIZE)
        alphas.append(np.asarray(image))
    assert browser.console_errors() == []
    return alphas


# Measured (5 frames each): strokes 0.978–0.987 (dashes and caps), holes ≥ 0.981, the others ≥ 0.99.
@pytest.mark.parametrize("name", sorted(path.stem for path in SAMPLES_DIR.glob("*.svg")))
def test_lottie_web_renders_like_the_final_renderer(browser: Browser, tmp_path: Path, name: str) -> None:
    clipart = parse_svg(SAMPLES_DIR / f"{name}.svg")
    frame_points = swaying_frames(clipart.control_points(), FRAME_COUNT)
    outputs = export_animation(
        clipart, frame_points, tmp_path / "out", config=ExportConfig(size=SIZE, fps=12, formats=("lottie",))
    )
    animation = json.loads(outputs["lottie"].read_text())
    assert lottie_schema_errors(animation) == []
    page = tmp_path / "lottie.html"
    page.write_text(
        "<!doctype html><html><head><style>html,body{margin:0;background:transparent}"
        f"#stage{{width:{SIZE}px;height:{SIZE}px}}</style>"
        f'<script src="{(LOTTIE_WEB_DIR / "lottie.min.js").as_uri()}"></script></head>'
        '<body><div id="stage"></div></body></html>'
    )
    played = lottie_frames(browser, page, animation, CHECKED_FRAMES)
    rendered = render_frames(clipart, frame_points[list(CHECKED_FRAMES)], SIZE, background="transparent")
    for frame, lottie_frame, final_frame in zip(CHECKED_FRAMES, played, rendered):
        iou = alpha_iou(lottie_frame[..., 3], final_frame[..., 3])
        assert iou >= 0.97, f"{name} frame {frame}: alpha IoU {iou:.4f}"
        # Colours, opacity and paint order (a stroke over its fill): where both are opaque.
        opaque = (lottie_frame[..., 3] == 255) & (final_frame[..., 3] == 255)
        difference = np.abs(lottie_frame[..., :3].astype(int) - final_frame[..., :3].astype(int)).max(axis=-1)
        p95 = np.percentile(difference[opaque], 95)  # measured ≤ 7 (layers), ≤ 2 on the others
        assert p95 <= 8, f"{name} frame {frame}: 95th-percentile colour difference {p95}"
    # Nothing outside the test folder and the local lottie-web was requested.
    urls = [event["request"]["url"] for event in browser.recorded("Network.requestWillBeSent")]
    assert urls and all(url.startswith("file://") for url in urls), urls
