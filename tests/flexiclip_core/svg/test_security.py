"""Hostile SVGs: each is rejected with its own specific error, or defused, and nothing outside
the file is ever read or connected to (checked with a `sys.addaudithook` recorder).

The ``timeout`` marks are hang guards (pytest-timeout), not speed assertions: the limits are
enforced while streaming, so every case finishes in well under a second here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flexiclip_core.errors import (
    EmptyDrawingError,
    FlexiclipError,
    SvgLimitExceeded,
    SvgParseError,
    SvgSecurityError,
)
from flexiclip_core.svg import ParseConfig, SvgLimits, parse_svg

SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
_NETWORK_EVENTS = frozenset(
    {"socket.connect", "socket.getaddrinfo", "socket.sendto", "urllib.Request", "http.client.connect", "ftplib.connect"}
)
_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"})


class _AccessRecorder:
    """Records file opens (other than allowed paths), network and process events while armed.

    Audit hooks cannot be removed, so one hook is installed per test session and armed only
    around the parse under test.
    """

    def __init__(self) -> None:
        self.armed = False
        self.allowed: set[str] = set()
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple) -> None:
        if not self.armed:
            return
        if event == "open":
            target = args[0]
            if isinstance(target, int):
                return  # re-opening an already open descriptor reads nothing new
            name = os.fsdecode(target) if isinstance(target, (str, bytes, os.PathLike)) else repr(target)
            if os.path.abspath(name) not in self.allowed:
                self.events.append((event, name))
        elif event in _NETWORK_EVENTS or event in _PROCESS_EVENTS:
            self.events.append((event, repr(args)[:200]))

    @contextmanager
    def watching(self, *allowed: Path) -> Iterator[list[tuple[str, str]]]:
        self.events = []
        self.allowed = {os.path.abspath(p) for p in allowed}
        self.armed = True
        try:
            yield self.events
        finally:
            self.armed = False


_RECORDER = _AccessRecorder()
sys.addaudithook(_RECORDER)


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """Parse once so any lazy imports happen before the recorder is armed."""
    parse_svg(f'<svg {SVG_NS}><rect width="1" height="1"/><path d="M0 0 A1 1 0 0 1 2 2"/></svg>'.encode())


def parse_watched(source: bytes | Path, **kwargs) -> tuple[object, list[tuple[str, str]]]:
    """parse_svg under the recorder: (result or raised error, recorded accesses)."""
    allowed = (source,) if isinstance(source, Path) else ()
    with _RECORDER.watching(*allowed) as events:
        try:
            outcome: object = parse_svg(source, **kwargs)
        except FlexiclipError as exc:
            outcome = exc
    return outcome, list(events)


def test_the_recorder_sees_file_and_network_access(tmp_path: Path) -> None:
    """The proof below is only as good as the recorder: check it records what it should."""
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    import socket

    with _RECORDER.watching() as events:
        secret.read_text()
        with socket.socket() as sock:
            sock.settimeout(0.01)
            try:
                sock.connect(("127.0.0.1", 9))
            except OSError:
                pass
    assert ("open", str(secret)) in events
    assert any(event == "socket.connect" for event, _ in events)


@pytest.mark.timeout(30)
def test_xxe_file_entity_is_refused_and_nothing_is_read() -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f'<svg {SVG_NS}><text>&xxe;</text><rect width="1" height="1"/></svg>'
    ).encode()
    outcome, events = parse_watched(xxe, clip_id="xxe")
    assert isinstance(outcome, SvgSecurityError)
    assert "DOCTYPE" in str(outcome) and "clip 'xxe'" in str(outcome)
    assert events == []


@pytest.mark.timeout(30)
def test_billion_laughs_dtd_is_refused() -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]><svg {SVG_NS}><text>&lol9;</text></svg>'.encode()
    outcome, events = parse_watched(bomb, clip_id="lol")
    assert isinstance(outcome, SvgSecurityError)
    assert "entity" in str(outcome).lower()
    assert events == []


@pytest.mark.timeout(60)
def test_billion_laughs_through_nested_use_is_bounded() -> None:
    levels = ['<path id="l0" d="M0 0 L10 0 L10 10 Z"/>']
    for level in range(1, 10):
        uses = "".join(f'<use href="#l{level - 1}" x="{i}"/>' for i in range(10))
        levels.append(f'<g id="l{level}">{uses}</g>')
    bomb = f'<svg {SVG_NS}><defs>{"".join(levels)}</defs><use href="#l9"/></svg>'.encode()
    outcome, events = parse_watched(bomb, clip_id="laughs")
    assert isinstance(outcome, SvgLimitExceeded)
    assert outcome.limit == "max_elements"
    assert "max_elements=100000" in str(outcome) and "<use>" in str(outcome)
    assert events == []


@pytest.mark.timeout(30)
def test_use_cycles_are_cut_with_a_warning() -> None:
    cyclic = (
        f'<svg {SVG_NS}><g id="a"><rect width="1" height="1"/><use href="#b"/></g><g id="b"><use href="#a"/></g></svg>'
    ).encode()
    outcome, _ = parse_watched(cyclic)
    assert not isinstance(outcome, Exception)
    assert "use-cycle" in {w.code for w in outcome.warnings}


@pytest.mark.timeout(30)
def test_image_and_use_pointing_at_a_local_file_or_url_are_ignored(tmp_path: Path) -> None:
    local_svg = tmp_path / "other.svg"
    local_svg.write_text(f'<svg {SVG_NS}><rect id="r" width="5" height="5"/></svg>')
    hostile = tmp_path / "hostile.svg"
    hostile.write_text(
        f"<svg {SVG_NS}>"
        f'<image href="file:///etc/passwd" width="5" height="5"/>'
        f'<image xlink:href="{local_svg}" width="5" height="5"/>'
        '<image xlink:href="http://127.0.0.1:9/x.png" width="5" height="5"/>'
        f'<use href="{local_svg}#r"/><use xlink:href="file://{local_svg}#r"/>'
        '<use href="http://127.0.0.1:9/evil.svg#r"/>'
        '<rect width="10" height="10" fill="url(http://127.0.0.1:9/p.svg#g) red"/>'
        '<style>@import url("http://127.0.0.1:9/evil.css"); @import "/etc/passwd"; rect { stroke: none }</style>'
        "</svg>"
    )
    outcome, events = parse_watched(hostile)
    assert not isinstance(outcome, Exception), outcome
    assert len(outcome.shapes) == 1 and outcome.shapes[0].fill.rgb == (1.0, 0.0, 0.0)
    external = [w for w in outcome.warnings if w.code == "external-href"]
    assert len(external) >= 7
    assert events == []  # the SVG itself was the only file opened; no socket, no request


@pytest.mark.timeout(30)
def test_file_over_the_size_limit_is_rejected_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.svg"
    with open(big, "wb") as handle:
        handle.write(f"<svg {SVG_NS}>".encode())
        handle.write(b" " * 20_000_001)
        handle.write(b"</svg>")
    outcome, events = parse_watched(big)
    assert isinstance(outcome, SvgLimitExceeded) and outcome.limit == "max_bytes"
    assert "max_bytes=20000000" in str(outcome) and "big.svg" in str(outcome)
    assert events == []
    small_limit = ParseConfig(limits=SvgLimits(max_bytes=100))
    outcome, _ = parse_watched(
        f'<svg {SVG_NS}><rect width="100" height="100"/>{" " * 100}</svg>'.encode(), config=small_limit
    )
    assert isinstance(outcome, SvgLimitExceeded) and outcome.limit == "max_bytes"


@pytest.mark.timeout(30)
def test_300k_elements_are_rejected_while_streaming() -> None:
    flood = (f"<svg {SVG_NS}>" + '<rect width="1" height="1"/>' * 300_000 + "</svg>").encode()
    outcome, events = parse_watched(flood, clip_id="flood")
    assert isinstance(outcome, SvgLimitExceeded) and outcome.limit == "max_elements"
    assert "more than max_elements=100000 elements" in str(outcome)
    assert events == []


@pytest.mark.timeout(30)
def test_nesting_5000_deep_is_rejected_without_recursion() -> None:
    deep = (f"<svg {SVG_NS}>" + "<g>" * 5000 + '<rect width="1" height="1"/>' + "</g>" * 5000 + "</svg>").encode()
    outcome, events = parse_watched(deep, clip_id="deep")
    assert isinstance(outcome, SvgLimitExceeded) and outcome.limit == "max_depth"
    assert "max_depth=256" in str(outcome)
    assert events == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("body", "element", "what"),
    [
        ('<path id="p" d="M0 0 L NaN 5 Z"/>', '<path id="p">', "path data"),
        ('<path id="p" d="M0 0 L 1e400 5 Z"/>', '<path id="p">', "out of range"),
        ('<rect id="r" x="inf" width="1" height="1"/>', '<rect id="r">', "length"),
        ('<rect id="r" width="1e999" height="1"/>', '<rect id="r">', "out of range"),
        ('<circle id="c" r="-Infinity"/>', '<circle id="c">', "length"),
        ('<g id="g" transform="translate(nan 0)"><rect width="1" height="1"/></g>', '<g id="g">', "transform"),
        ('<rect id="r" width="1" height="1" transform="scale(1e200) scale(1e200)"/>', '<rect id="r">', "overflow"),
        ('<polygon id="q" points="0 0 1 1 nan 2"/>', '<polygon id="q">', "points"),
    ],
)
def test_nan_and_inf_coordinates_are_errors_naming_the_element(body: str, element: str, what: str) -> None:
    outcome, events = parse_watched(f"<svg {SVG_NS}>{body}</svg>".encode(), clip_id="nan")
    assert type(outcome) is SvgParseError, outcome
    assert f"element {element}" in str(outcome) and what in str(outcome)
    assert events == []


@pytest.mark.timeout(30)
def test_binary_garbage_is_a_parse_error() -> None:
    garbage = bytes(range(256)) * 64 + os.urandom(4096)
    outcome, events = parse_watched(garbage, clip_id="garbage")
    assert type(outcome) is SvgParseError
    assert "not well-formed XML" in str(outcome)
    assert events == []


@pytest.mark.timeout(30)
def test_empty_file_is_a_parse_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.svg"
    empty.write_bytes(b"")
    outcome, events = parse_watched(empty)
    assert type(outcome) is SvgParseError
    assert str(outcome) == "clip 'empty.svg': empty file"
    assert events == []


@pytest.mark.timeout(30)
def test_non_svg_root_and_foreign_dtd_are_rejected() -> None:
    html, _ = parse_watched(b"<html><body/></html>")
    assert type(html) is SvgParseError and "root element is <html>, not <svg>" in str(html)
    external_dtd, events = parse_watched(
        f'<!DOCTYPE svg SYSTEM "file:///etc/passwd"><svg {SVG_NS}><rect width="1" height="1"/></svg>'.encode()
    )
    assert isinstance(external_dtd, SvgSecurityError) and "external DTD" in str(external_dtd)
    assert events == []


def test_w3c_doctype_without_internal_subset_is_tolerated_but_not_loaded() -> None:
    document = (
        '<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        f'<svg {SVG_NS}><rect width="1" height="1"/></svg>'
    ).encode()
    outcome, events = parse_watched(document)
    assert not isinstance(outcome, Exception) and len(outcome.shapes) == 1
    assert events == []


def test_nothing_visible_is_an_empty_drawing_error() -> None:
    outcome, _ = parse_watched(f'<svg {SVG_NS}><g><rect width="0" height="5"/></g></svg>'.encode(), clip_id="blank")
    assert isinstance(outcome, EmptyDrawingError) and "clip 'blank'" in str(outcome)


_FUZZ_SEED_SVG = (
    f'<svg {SVG_NS} viewBox="0 0 100 100"><style>.a{{fill:red}}</style><defs><linearGradient id="g">'
    '<stop offset="0" stop-color="red"/></linearGradient><symbol id="s" viewBox="0 0 1 1"><circle r="1"/></symbol>'
    '</defs><g transform="rotate(30 5 5)" opacity=".5"><path class="a" d="M0 0 C10 0 20 10 20 20 S30 40 40 40 '
    'Q50 40 50 50 T60 60 A10 5 30 1 0 80 80 Z m5 5 h10 v10 z" stroke="url(#g)" stroke-dasharray="1 2"/>'
    '<use href="#s" width="10" height="10"/><rect x="5" y="5" width="50" height="20" rx="3"/>'
    '<polygon points="1 2 3 4 5 6"/><ellipse cx="50" cy="50" rx="10" ry="5"/>'
    '<line x1="0" y1="0" x2="10" y2="10" stroke="#000"/></g></svg>'
).encode()


@pytest.mark.timeout(120)
def test_mutated_svgs_raise_only_specific_errors_and_never_non_finite_points() -> None:
    import random

    import numpy as np

    alphabet = b'0123456789.-+eE ,MmLlHhVvCcSsQqTtAaZz<>/="#()%;:abcdefnirx'
    rng = random.Random(20251125)
    outcomes = {"parsed": 0, "rejected": 0}
    for _ in range(400):
        mutated = bytearray(_FUZZ_SEED_SVG)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(mutated))
            operation = rng.random()
            if operation < 0.4:
                mutated[position] = rng.choice(alphabet)
            elif operation < 0.7:
                mutated.insert(position, rng.choice(alphabet))
            else:
                del mutated[position]
        try:
            clipart = parse_svg(bytes(mutated))
        except FlexiclipError:
            outcomes["rejected"] += 1
            continue
        outcomes["parsed"] += 1
        assert np.isfinite(clipart.control_points()).all(), bytes(mutated)
        for shape in clipart.shapes:
            if shape.stroke is not None:
                assert np.isfinite([shape.stroke.width, shape.stroke.dash_offset, *shape.stroke.dash_array]).all()
    # Both branches were exercised: the mutations are neither all harmless nor all fatal.
    assert outcomes["parsed"] > 0 and outcomes["rejected"] > 0, outcomes


@pytest.mark.timeout(30)
def test_huge_path_data_stops_at_the_command_limit() -> None:
    # 2 million commands (~8 MB of path data); reading stops once the budget is spent.
    flood = f'<svg {SVG_NS}><path id="flood" d="M0 0{" 1 1" * 2_000_000}"/></svg>'.encode()
    config = ParseConfig(limits=SvgLimits(max_path_commands=10_000))
    outcome, events = parse_watched(flood, clip_id="flood", config=config)
    assert isinstance(outcome, SvgLimitExceeded) and outcome.limit == "max_path_commands"
    assert 'element <path id="flood">' in str(outcome) and "max_path_commands=10000" in str(outcome)
    assert events == []


@pytest.mark.parametrize(
    "system_id",
    [
        "http://evil.example/svg11.dtd",
        "https://evil.example/svg11.dtd",
        "https://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd",  # only the exact http W3C prefix is tolerated
        "http://www.w3.org.evil.example/svg11.dtd",
        "svg11.dtd",
        "../../etc/passwd",
        "file:///etc/passwd",
    ],
    ids=["http", "https", "https-w3c", "w3c-lookalike", "relative", "relative-up", "file"],
)
def test_every_class_of_external_dtd_is_refused_and_nothing_is_read(system_id: str) -> None:
    document = f'<!DOCTYPE svg SYSTEM "{system_id}"><svg {SVG_NS}><rect width="1" height="1"/></svg>'.encode()
    outcome, events = parse_watched(document)
    assert isinstance(outcome, SvgSecurityError) and "external DTD" in str(outcome), outcome
    assert events == []


def test_many_small_paths_share_one_per_file_command_budget() -> None:
    # 200 paths of 60 commands each: every one is far under the budget of 10,000, the file is over.
    paths = "".join(f'<path d="M0 0{" L1 1" * 59}"/>' for _ in range(200))
    config = ParseConfig(limits=SvgLimits(max_path_commands=10_000))
    outcome, events = parse_watched(f"<svg {SVG_NS}>{paths}</svg>".encode(), clip_id="many", config=config)
    assert isinstance(outcome, SvgLimitExceeded) and outcome.limit == "max_path_commands", outcome
    assert events == []
    # The same file under a budget it fits parses.
    fits, _ = parse_watched(
        f"<svg {SVG_NS}>{paths}</svg>".encode(), config=ParseConfig(limits=SvgLimits(max_path_commands=100_000))
    )
    assert not isinstance(fits, Exception) and len(fits.shapes) == 200
