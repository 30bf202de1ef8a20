"""Sweep a folder of SVGs through the parser and the final renderer; classify every file.

Issue 15 asks that the whole openclipart corpus (8k files) yields only specific errors. For each
``*.svg`` under the root, a worker process runs `parse_svg` and `render_clipart` at 256 px of the
rest pose (with ``--stage rig`` also `auto_rig` + `build_mesh` + `bind_points`, as the corpus rig
test does) and the file is classified:

* ``ok`` — every stage passed;
* ``specific`` — a `FlexiclipError` subclass (SvgParseError, RigError, MeshError...), with message;
* ``unexpected`` — any other exception, with its traceback;
* ``timeout`` — over ``--timeout`` seconds (the worker is killed and replaced);
* ``crash`` — the worker died (segfault, out of memory); it is replaced.

Usage::

    .venv/bin/python scripts/corpus_sweep.py [--root DIR] [--jobs N] [--timeout S]
        [--stage render|rig] [--json PATH] [--limit N] [--sample N]

``--root`` defaults to the openclipart corpus (``$FLEXICLIP_OPENCLIPART`` or
``.cache/openclipart/usr/share/openclipart/svg``, as tests/conftest.py finds it). The JSON summary
holds counts per class, per error class and message pattern (first line, numbers stripped) with
example files, every refused file (``refused``: file, error class and message of each ``specific``
outcome, which scripts/classify_refusals.py reads), per-stage times (p50/p95/max) and the slowest
files. Exit status 1 when any file is unexpected, timed out or crashed; else 3 when the sweep was
stopped early (Ctrl-C or SIGTERM: the summary of the files finished so far is still written, with
``"interrupted": true``); else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import random
import re
import signal
import sys
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RENDER_SIZE = 256
"""Side in px of the rest-pose render."""
EXAMPLES_PER_PATTERN = 3
"""Example files kept per error pattern in the summary."""
SLOWEST_LISTED = 20
"""Slowest files listed in the summary."""
FAILING_STATUSES = frozenset({"unexpected", "timeout", "crash"})
"""Outcomes that make the sweep exit non-zero."""

Record = dict[str, Any]


def default_root() -> Path:
    """The openclipart svg root, found as tests/conftest.py finds it (never fetched here)."""
    env = os.environ.get("FLEXICLIP_OPENCLIPART")
    if env:
        return Path(env)
    return REPO_ROOT / ".cache" / "openclipart" / "usr" / "share" / "openclipart" / "svg"


def message_pattern(message: str) -> str:
    """First line of ``message`` with numbers replaced by ``N`` and quoted names by ``'…'``."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = re.sub(r"'[^']*'", "'…'", first)
    return re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "N", first)


def sweep_file(path: str, stage: str) -> Record:
    """Run every stage on one file; never raises (the outcome goes into the record)."""
    from flexiclip_core.errors import FlexiclipError

    record: Record = {"file": path, "times": {}}
    current = "parse"
    start = time.perf_counter()
    try:
        from flexiclip_core.render import render_clipart
        from flexiclip_core.svg import parse_svg

        start = time.perf_counter()
        clipart = parse_svg(path)
        record["times"]["parse"] = time.perf_counter() - start
        current = "render"
        start = time.perf_counter()
        render_clipart(clipart, size=RENDER_SIZE)
        record["times"]["render"] = time.perf_counter() - start
        if stage == "rig":
            from flexiclip_core.binding import bind_points
            from flexiclip_core.mesh import build_mesh
            from flexiclip_core.rig import auto_rig

            current = "rig"
            start = time.perf_counter()
            rig = auto_rig(clipart)
            mesh = build_mesh(clipart, rig)
            bind_points(mesh, clipart, rig)
            record["times"]["rig"] = time.perf_counter() - start
    except FlexiclipError as exc:
        record["times"][current] = time.perf_counter() - start  # a failing stage's time counts too
        record.update(status="specific", stage=current, error=type(exc).__name__, message=str(exc))
        return record
    except Exception as exc:  # noqa: BLE001 - the sweep's job is to report these
        record["times"][current] = time.perf_counter() - start
        record.update(
            status="unexpected",
            stage=current,
            error=type(exc).__name__,
            message=str(exc),
            traceback=traceback.format_exc(),
        )
        return record
    record["status"] = "ok"
    return record


def _worker(connection: multiprocessing.connection.Connection, stage: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Import the heavy libraries before the first file so its budget does not pay for them.
    import flexiclip_core.render
    import flexiclip_core.svg  # noqa: F401

    connection.send("ready")
    while True:
        path = connection.recv()
        if path is None:
            return
        connection.send(sweep_file(path, stage))


@dataclass
class _Slot:
    """One worker process and the file it is working on."""

    process: multiprocessing.process.BaseProcess
    connection: multiprocessing.connection.Connection
    path: str | None = None
    started: float = 0.0


@dataclass
class SweepPool:
    """Workers with a per-file deadline; a worker that times out or dies is killed and replaced."""

    jobs: int
    stage: str
    timeout_s: float
    slots: list[_Slot] = field(default_factory=list)
    interrupted: bool = False

    def __post_init__(self) -> None:
        # spawn: a fresh interpreter per worker, nothing inherited from the parent's libraries.
        self._context = multiprocessing.get_context("spawn")
        self.slots = [self._start() for _ in range(self.jobs)]

    def _start(self) -> _Slot:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker, args=(child, self.stage), daemon=True)
        process.start()
        child.close()
        # Wait (unbudgeted) for the imports; a worker that dies here is a broken environment.
        if parent.recv() != "ready":
            raise RuntimeError("sweep worker did not start")
        return _Slot(process, parent)

    def _replace(self, index: int) -> None:
        slot = self.slots[index]
        slot.process.kill()
        slot.process.join()
        slot.connection.close()
        self.slots[index] = self._start()

    def run(self, files: list[str], progress: Any = None) -> list[Record]:
        """Sweep ``files``; returns one record per file in completion order.

        Ctrl-C (or SIGTERM, see `main`) stops the sweep and returns the files finished so far.
        """
        records: list[Record] = []
        try:
            self._run(files, records, progress)
        except KeyboardInterrupt:
            self.interrupted = True
        return records

    def _run(self, files: list[str], records: list[Record], progress: Any) -> None:
        pending = list(reversed(files))
        while pending or any(slot.path for slot in self.slots):
            for slot in self.slots:
                if slot.path is None and pending:
                    slot.path = pending.pop()
                    slot.started = time.perf_counter()
                    slot.connection.send(slot.path)
            busy = [slot for slot in self.slots if slot.path]
            now = time.perf_counter()
            wait_s = max(0.0, min(slot.started + self.timeout_s - now for slot in busy))
            ready = multiprocessing.connection.wait([slot.connection for slot in busy], timeout=wait_s)
            now = time.perf_counter()
            for index, slot in enumerate(self.slots):
                if slot.path is None:
                    continue
                record: Record | None = None
                if slot.connection in ready:
                    try:
                        record = slot.connection.recv()
                    except (EOFError, OSError):
                        code = slot.process.exitcode
                        record = {
                            "file": slot.path,
                            "status": "crash",
                            "error": "WorkerDied",
                            "message": f"exit {code}",
                        }
                        self._replace(index)
                elif now - slot.started > self.timeout_s:
                    record = {
                        "file": slot.path,
                        "status": "timeout",
                        "error": "Timeout",
                        "message": f"over {self.timeout_s:.0f} s",
                    }
                    self._replace(index)
                if record is not None:
                    record["seconds"] = now - slot.started
                    self.slots[index].path = None
                    records.append(record)
                    if progress is not None:
                        progress(record, len(records), len(files))

    def close(self) -> None:
        for slot in self.slots:
            if slot.path is not None:  # still on a file (the sweep was interrupted): stop it now
                slot.process.kill()
            with contextlib.suppress(OSError):  # a worker that already died
                slot.connection.send(None)
            slot.process.join(timeout=10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "max": ordered[-1]}


def summarise(
    records: list[Record], root: Path, wall_s: float, stage: str, *, found: int | None = None
) -> dict[str, Any]:
    """The JSON summary of a sweep (see the module docstring)."""

    def relative(path: str) -> str:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            return path

    counts = Counter(record["status"] for record in records)
    patterns: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for record in records:
        if record["status"] == "ok":
            continue
        key = record["status"] if record["status"] in ("timeout", "crash") else record["error"]
        pattern = message_pattern(record.get("message", ""))
        entry = patterns[key].setdefault(pattern, {"count": 0, "status": record["status"], "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < EXAMPLES_PER_PATTERN:
            example: dict[str, Any] = {"file": relative(record["file"]), "message": record.get("message", "")}
            if "traceback" in record:
                example["traceback"] = record["traceback"]
            entry["examples"].append(example)
    by_error = {
        name: {"count": sum(entry["count"] for entry in found.values()), "patterns": found}
        for name, found in sorted(patterns.items())
    }
    stage_times: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for name, seconds in record.get("times", {}).items():
            stage_times[name].append(seconds)
    stage_times["file"] = [record["seconds"] for record in records if "seconds" in record]
    slowest = sorted(records, key=lambda record: record.get("seconds", 0.0), reverse=True)[:SLOWEST_LISTED]
    return {
        "root": str(root),
        "found": len(records) if found is None else found,
        "interrupted": found is not None and found > len(records),
        "stage": stage,
        "files": len(records),
        "wall_s": wall_s,
        "counts": {status: counts.get(status, 0) for status in ("ok", "specific", "unexpected", "timeout", "crash")},
        "errors": by_error,
        "refused": [
            {"file": relative(record["file"]), "error": record["error"], "message": record.get("message", "")}
            for record in sorted(records, key=lambda record: record["file"])
            if record["status"] == "specific"
        ],
        "times_s": {name: _percentiles(values) for name, values in stage_times.items()},
        "slowest": [
            {"file": relative(record["file"]), "seconds": record.get("seconds"), "status": record["status"]}
            for record in slowest
        ],
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=None, help="folder searched recursively for *.svg")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-file budget in seconds")
    parser.add_argument("--stage", choices=("render", "rig"), default="render", help="last stage run")
    parser.add_argument("--json", type=Path, default=None, help="where the JSON summary is written")
    parser.add_argument("--limit", type=int, default=None, help="sweep only the first N files (sorted)")
    parser.add_argument(
        "--sample", type=int, default=None, help="sweep N files drawn at random, in random order (seed 0)"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-file progress lines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    root: Path = args.root or default_root()
    if not root.is_dir():
        print(f"corpus root {root} is not a folder (make corpus fetches openclipart)", file=sys.stderr)
        return 2
    files = [str(path) for path in sorted(root.rglob("*.svg"))][: args.limit]
    if args.sample is not None:  # a fixed seed: the same sample on every run
        files = random.Random(0).sample(files, min(args.sample, len(files)))  # random order too

    def progress(record: Record, done: int, total: int) -> None:
        if args.quiet:
            return
        note = "" if record["status"] == "ok" else f" {record.get('error')}: {record.get('message', '')[:120]}"
        print(f"[{done}/{total}] {record['status']} {record['seconds']:.2f}s {record['file']}{note}", flush=True)

    # SIGTERM (e.g. `kill PID` of a nohup run) stops like Ctrl-C: the partial summary is still written.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    start = time.perf_counter()
    pool = SweepPool(jobs=max(1, args.jobs), stage=args.stage, timeout_s=args.timeout)
    try:
        records = pool.run(files, progress)
    finally:
        pool.close()
    summary = summarise(records, root, time.perf_counter() - start, args.stage, found=len(files))
    text = json.dumps(summary, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(json.dumps({"files": summary["files"], "counts": summary["counts"], "wall_s": round(summary["wall_s"], 1)}))
    failing = sum(summary["counts"][status] for status in FAILING_STATUSES)
    if failing:
        return 1
    return 3 if summary["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
