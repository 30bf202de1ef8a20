"""A minimal headless-Chromium driver over the Chrome DevTools Protocol (CDP).

Debian's ``chromium`` is started with ``--remote-debugging-port=0``; we read the browser's
websocket address from its stderr and talk CDP over it with the ``websockets`` package's sync
client (no chromedriver, no selenium, no download). One page target is attached in flattened
session mode; every event is recorded so a test can check console errors, exceptions and each
network request the page made.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-file-access-from-files",
    "--window-size=1280,1600",
)


def chromium_path() -> str | None:
    """Debian's chromium (installed by scripts/install_chromium.sh), or one on PATH."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_chromium() -> str:
    """`chromium_path`, else skip the test (fail it on CI or with FLEXICLIP_REQUIRE_CHROMIUM)."""
    import pytest

    path = chromium_path()
    if path is None:
        message = "chromium is not installed (run scripts/install_chromium.sh)"
        if os.environ.get("CI") or os.environ.get("FLEXICLIP_REQUIRE_CHROMIUM"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class CdpError(RuntimeError):
    """A CDP command failed or the browser did not answer in time."""


class Browser:
    """Headless Chromium with one attached page; use as a context manager."""

    def __init__(self, executable: str, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="flexiclip-chromium-")
        self.process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.stderr_lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._replies: dict[int, dict[str, Any]] = {}
        self._reply_ready = threading.Condition(self._lock)
        endpoint = self._read_endpoint()
        from websockets.sync.client import connect

        # Screenshots of a tall page exceed the default 1 MiB frame limit.
        self.socket = connect(endpoint, max_size=64 * 1024 * 1024, open_timeout=timeout)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        target = self.command("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.command("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.command(f"{domain}.enable", session=True)

    def _read_endpoint(self) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline().decode("utf-8", "replace")
            if not line:
                if self.process.poll() is not None:
                    break
                continue
            self.stderr_lines.append(line)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                # Keep draining stderr so chromium never blocks on a full pipe.
                threading.Thread(target=self._drain_stderr, daemon=True).start()
                return match.group(1)
        raise CdpError("chromium did not start its DevTools endpoint: " + "".join(self.stderr_lines[-20:]))

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace"))

    def _read_loop(self) -> None:
        try:
            for raw in self.socket:
                message = json.loads(raw)
                with self._reply_ready:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._reply_ready.notify_all()
        except Exception:  # noqa: BLE001 — the socket closes, however it likes, when the browser exits
            return

    def command(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one CDP command (to the page session when ``session``) and return its result."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._reply_ready:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CdpError(f"no reply to {method} within {timeout or self.timeout} s")
                self._reply_ready.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_for_event(self, method: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The first recorded event named ``method`` (waiting for it if needed)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._reply_ready:
            while True:
                for event in self.events:
                    if event.get("method") == method:
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CdpError(f"no {method} event within {timeout or self.timeout} s")
                self._reply_ready.wait(left)

    def clear_events(self) -> None:
        """Forget every recorded event (a fresh record for the next page)."""
        with self._lock:
            self.events.clear()

    def navigate(self, url: str) -> None:
        """Open ``url`` in the page and wait for its load event."""
        with self._lock:
            self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        result = self.command("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """The JSON value of a JS expression in the page (promises are awaited); raises on exceptions."""
        result = self.command(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=True,
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise CdpError(f"page exception: {json.dumps(result['exceptionDetails'])[:2000]}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page."""
        import base64

        data = self.command("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def recorded(self, method: str) -> list[dict[str, Any]]:
        """Params of every recorded event named ``method``."""
        with self._lock:
            return [e["params"] for e in self.events if e.get("method") == method]

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors of the page, as text."""
        found = []
        for params in self.recorded("Runtime.consoleAPICalled"):
            if params.get("type") in ("error", "assert"):
                values = (str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                found.append("console: " + " ".join(values))
        for params in self.recorded("Runtime.exceptionThrown"):
            found.append("exception: " + json.dumps(params.get("exceptionDetails", {}))[:500])
        for params in self.recorded("Log.entryAdded"):
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                found.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a socket the browser already dropped may raise anything
            self.socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
