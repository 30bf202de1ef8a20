"""Every refusal path of the ``flexiclip`` command: exit status 2 and one ``error:`` line that
says why, never a traceback.

A refusal is easy to break unseen: the lines that raise it run only on bad input, so a
`NameError` there (the ``render --width`` crash of issue 19) passes every happy-path test.
`test_every_refusal_in_the_cli_source_has_a_case` keeps the table complete: each message the
CLI's source raises (`BadInput`) or echoes as an ``error:`` line must show up in some case's output.

Cases run as real subprocesses (``python -m flexiclip_cli``, a few at a time), except those
marked ``in_process``: they import torch and the method before refusing (~8 s of start-up each
here), so they run through typer's `CliRunner` in this process, which shares those imports and
still reaches every line a subprocess would. Cases that change process-wide state (``run``
reaching its preflight sets the pipeline's environment and starts a watchdog) stay out of this
process; those marked ``shared_process`` (the ``run`` refusals of its preflight, ~7 s of
imports each) run one after another in ONE helper subprocess (`SHARED_PROCESS`), through the
same entry point as ``python -m flexiclip_cli``, each with its own stdout and stderr: that
process pays the imports once. The preflight's refusals of the catalog and output root
through the pipeline's console (one line; the traceback only with ``--verbose``) and the run's
exit 2 for a missing catalog or a prior without weights are checked here, in that process
(they were `flexiclip run` subprocesses of their own in tests/flows/test_console.py and
test_exit_codes.py).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import flexiclip_cli
from flexiclip_cli.common import EXIT_BAD_INPUT
from tests.conftest import REPO_ROOT, SAMPLES_DIR
from tests.flows.harness import FAST_SETTINGS

CLI_PACKAGE = Path(flexiclip_cli.__file__).parent
VERBOSE = "run-corrupt-catalog --verbose"
"""The outcome of `VERBOSE_RUN` among the cases' outcomes."""
SVG = str(SAMPLES_DIR / "animal.svg")
CATALOG = str(SAMPLES_DIR / "clipart.parquet")
REFERENCE = str(SAMPLES_DIR / "human_wave.mp4")
WITHOUT_WEIGHTS = tuple("modelscope:{tmp}/no-weights" if part == "tiny" else part for part in FAST_SETTINGS)
"""The pipeline tests' settings with an explicit prior whose weights folder does not exist."""


@dataclass(frozen=True)
class Refusal:
    name: str
    argv: tuple[str, ...]
    """Arguments after ``flexiclip``; ``{tmp}`` is the test's scratch folder (see `scratch`)."""
    expect: str
    """Text the one ``error:`` line must contain."""
    in_process: bool = False
    """Run through `CliRunner` in this process instead of a subprocess (see the module docstring)."""
    shared_process: bool = False
    """Run in the one helper subprocess of the preflight refusals (see the module docstring)."""
    alone: bool = False
    """The ``error:`` line is all of stderr (no other line, not even a log record)."""


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


CASES = (
    # inspect / render: the SVG argument, and render's option combinations.
    Refusal("inspect-missing-file", ("inspect", "{tmp}/missing.svg"), "file not found: "),
    Refusal("inspect-folder", ("inspect", "{tmp}/empty"), "is a directory, not an SVG file: "),
    Refusal("inspect-device-file", ("inspect", "/dev/null"), "not a regular file: "),
    Refusal("inspect-malformed-svg", ("inspect", "{tmp}/bad.svg"), "not well-formed XML"),
    Refusal(
        "render-width-without-document-frame",
        ("render", SVG, "--out", "{tmp}/x.png", "--width", "10"),
        "--width applies only with --document-frame (use --size for the square canvas)",
    ),
    Refusal(
        "render-document-frame-with-train-renderer",
        ("render", SVG, "--out", "{tmp}/x.png", "--document-frame", "--renderer", "train"),
        "--document-frame is drawn by the final renderer only",
    ),
    Refusal(
        "render-absent-cuda-device",
        ("render", SVG, "--out", "{tmp}/x.png", "--renderer", "train", "--device", "cuda:99"),
        "device 'cuda:99'",
        in_process=True,
    ),
    Refusal("render-unwritable-out", ("render", SVG, "--out", "{tmp}/plain.txt/x.png"), "plain.txt", in_process=True),
    # animate: everything is checked before the prior loads, except the prior itself.
    Refusal(
        "animate-missing-file",
        ("animate", "{tmp}/missing.svg", "-p", "x", "--out", "{tmp}/a"),
        "file not found: ",
        in_process=True,
    ),
    Refusal(
        "animate-out-is-a-file",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/plain.txt"),
        "exists and is not a folder",
    ),
    Refusal(
        "animate-out-not-writable",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/plain.txt/sub"),
        "is not a writable folder (",
    ),
    Refusal(
        "animate-video-fit-without-reference",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--method", "video-fit"),
        "method video-fit needs --reference-video or --generate-reference",
        in_process=True,
    ),
    Refusal(
        "animate-generate-and-supplied-reference",
        (
            "animate",
            SVG,
            "-p",
            "x",
            "--out",
            "{tmp}/a",
            "--generate-reference",
            "wan-vace-tiny",
            "--reference-video",
            REFERENCE,
        ),
        "--generate-reference and --reference-video exclude each other (one reference per clip)",
        in_process=True,
    ),
    Refusal(
        "animate-candidates-without-generator",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--reference-candidates", "3"),
        "--reference-candidates needs --generate-reference",
        in_process=True,
    ),
    Refusal(
        "animate-keep-references-is-a-file",
        (
            "animate",
            SVG,
            "-p",
            "x",
            "--out",
            "{tmp}/a",
            "--generate-reference",
            "wan-vace-tiny",
            "--keep-references",
            "{tmp}/plain.txt",
        ),
        "plain.txt exists and is not a folder",
        in_process=True,
    ),
    Refusal(
        "animate-generate-with-sds-method",
        (
            "animate",
            SVG,
            "-p",
            "x",
            "--out",
            "{tmp}/a",
            "--method",
            "flexiclip",
            "--generate-reference",
            "wan-vace-tiny",
        ),
        "--generate-reference needs --method video-fit, not flexiclip",
        in_process=True,
    ),
    Refusal(
        "animate-generate-without-prompt",
        ("animate", SVG, "--out", "{tmp}/a", "--generate-reference", "wan-vace-tiny"),
        "--generate-reference needs --prompt (the motion to generate)",
        in_process=True,
    ),
    Refusal(
        "animate-unknown-generator",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--generate-reference", "sora"),
        "unknown reference generator 'sora' (known: wan-vace, wan-vace-tiny)",
        in_process=True,
    ),
    Refusal(
        "animate-generator-model-missing",
        (
            "animate",
            SVG,
            "-p",
            "x",
            "--out",
            "{tmp}/a",
            "--generate-reference",
            "wan-vace",
            "--generator-model",
            "{tmp}/no-model",
        ),
        "no-model does not exist. Wan2.1-VACE-1.3B is licensed Apache-2.0",
        in_process=True,
    ),
    Refusal(
        "animate-reference-with-sds-method",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--method", "flexiclip", "--reference-video", REFERENCE),
        "--reference-video needs --method video-fit, not flexiclip",
        in_process=True,
    ),
    Refusal(
        "animate-sds-without-prompt",
        ("animate", SVG, "--out", "{tmp}/a"),
        "--prompt is required (only video-fit works without one)",
        in_process=True,
    ),
    Refusal(
        "animate-unknown-export-profile",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--export-profile", "nope"),
        "unknown export profile 'nope'",
        in_process=True,
    ),
    Refusal(
        "animate-unknown-format",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--format", "mkv"),
        "unknown export format(s) 'mkv'",
        in_process=True,
    ),
    Refusal(
        "animate-unknown-method",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--method", "nope"),
        "unknown method",
        in_process=True,
    ),
    Refusal(
        "animate-keypoints-without-list",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--keypoints", "{tmp}/kp.json"),
        "must hold a 'keypoints' list",
        in_process=True,
    ),
    Refusal(
        "animate-unsupported-device",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--device", "tpu"),
        "device 'tpu' is not one of auto, cpu, cuda, cuda:N",
        in_process=True,
    ),
    Refusal(
        "animate-unknown-prior",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--prior", "sora"),
        "unknown prior",
        in_process=True,
    ),
    Refusal(
        "animate-prior-without-weights",
        ("animate", SVG, "-p", "x", "--out", "{tmp}/a", "--prior", "modelscope:{tmp}/no-weights", "--device", "cpu"),
        "is not a directory",
        in_process=True,
    ),
    # run: option parsing, then the preflight (before Prefect or Ray start).
    Refusal(
        "run-bad-clips-per-worker",
        ("run", CATALOG, "--output", "{tmp}/o", "--clips-per-worker", "zero"),
        "error: --clips-per-worker: ",
    ),
    Refusal(
        "run-set-without-value",
        ("run", CATALOG, "--output", "{tmp}/o", "--set", "novalue"),
        "error: --set expects KEY=VALUE",
    ),
    Refusal(
        "run-output-root-is-a-file",
        ("run", CATALOG, "--output", "{tmp}/plain.txt", *FAST_SETTINGS),
        "output root '{tmp}/plain.txt' is a file, not a folder",  # refused before any clip
        shared_process=True,
        alone=True,
    ),
    Refusal(
        "run-missing-catalog",
        ("run", "{tmp}/missing.parquet", "--output", "{tmp}/o", *FAST_SETTINGS),
        "no such file",
        shared_process=True,
        alone=True,
    ),
    Refusal(
        "run-corrupt-catalog",
        ("run", "{tmp}/corrupt.parquet", "--output", "{tmp}/o", *FAST_SETTINGS),
        "cannot read as Parquet",
        shared_process=True,
        alone=True,
    ),
    Refusal(
        "run-catalog-without-prompt-column",
        ("run", "{tmp}/no-prompt.parquet", "--output", "{tmp}/o", *FAST_SETTINGS),
        "missing required column(s) prompt",
        shared_process=True,
        alone=True,
    ),
    Refusal(
        "run-unknown-generator",
        ("run", CATALOG, "--output", "{tmp}/o", "--method", "video-fit", "--set", "video_fit.generator=vfkey"),
        "error: unknown reference generator 'vfkey' (known: wan-vace, wan-vace-tiny)",
        shared_process=True,
    ),
    Refusal(
        "run-unknown-prior",
        ("run", CATALOG, "--output", "{tmp}/o", "--prior", "sora"),
        "prior 'sora': unknown",
        shared_process=True,
    ),
    Refusal(
        # Bad input (exit 2), not a clip worker that did not start (exit 3).
        "run-prior-without-weights",
        ("run", CATALOG, "--output", "{tmp}/o", *WITHOUT_WEIGHTS),
        "modelscope:PATH = {tmp}/no-weights is not a directory",
        shared_process=True,
        alone=True,
    ),
    # catalog, dataset, report, bench.
    Refusal(
        "catalog-init-unknown-out-format",
        ("catalog", "init", str(SAMPLES_DIR), "--out", "{tmp}/c.xlsx"),
        ": unknown catalog format; use ",
    ),
    Refusal(
        "catalog-init-no-valid-clip",
        ("catalog", "init", "{tmp}/empty", "--out", "{tmp}/c.parquet"),
        "no valid clip in ",
    ),
    Refusal(
        "catalog-init-missing-folder",
        ("catalog", "init", "{tmp}/missing", "--out", "{tmp}/c.parquet"),
        "does not exist",
    ),
    Refusal(
        "catalog-show-version-and-as-of",
        ("catalog", "show", "{tmp}/empty", "--version", "1", "--as-of", "2026-01-01"),
        "give either --version or --as-of, not both",
    ),
    Refusal(
        "catalog-show-unknown-status", ("catalog", "show", "{tmp}/empty", "--status", "nope"), "status must be one of"
    ),
    Refusal(
        "catalog-show-bad-as-of", ("catalog", "show", "{tmp}/empty", "--as-of", "yesterday"), "not an ISO 8601 time"
    ),
    Refusal("catalog-compact-no-catalog", ("catalog", "compact", "{tmp}/empty"), "no output catalog at"),
    Refusal(
        "dataset-export-unknown-format",
        ("dataset", "export", "{tmp}/empty", "--out", "{tmp}/ds", "--format", "zip"),
        "unknown dataset format 'zip'",
    ),
    Refusal("dataset-export-no-commit", ("dataset", "export", "{tmp}/empty", "--out", "{tmp}/ds"), "nothing to export"),
    Refusal("report-no-run", ("report", "{tmp}/empty"), "error: output root "),
    Refusal(
        "wan-vae-dtype-unknown",
        ("--wan-vae-dtype", "fp8", "inspect", SVG),
        "error: --wan-vae-dtype: Wan VAE dtype 'fp8' is not one of auto, bfloat16, float16, float32",
        in_process=True,
    ),
    Refusal(
        "bench-absent-cuda-device",
        ("bench", "--device", "cuda:99", "--only", "plan"),
        "device 'cuda:99'",
        in_process=True,
    ),
)


VERBOSE_RUN = ("run", "{tmp}/corrupt.parquet", "--output", "{tmp}/o", *FAST_SETTINGS, "--verbose")
"""A preflight refusal with ``--verbose``: the same exit 2, and the traceback behind the line."""

SHARED_PROCESS = r"""
import json, os, sys, tempfile
from flexiclip_cli.main import app

outcomes = []
for argv in json.loads(sys.argv[1]):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(); sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            app(argv, prog_name="flexiclip")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        out.seek(0); err.seek(0)
        outcomes.append([code, out.read().decode(), err.read().decode()])
with open(sys.argv[2], "w") as handle:
    json.dump(outcomes, handle)
"""
"""The helper process of the ``shared_process`` cases: each argv (a JSON list, argument 1) through
the CLI's entry point (``flexiclip_cli.main.app``, as ``python -m flexiclip_cli``), its exit
status and what it wrote to file descriptors 1 and 2 (log handlers included) collected into the
JSON file named by argument 2. An uncaught exception ends the process, as it would one case's."""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bad inputs: a malformed SVG, a plain file, an empty folder, a keypoints file without
    keypoints, a corrupt Parquet catalog, a catalog without the prompt column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("refusals")
    (folder / "bad.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L')
    (folder / "plain.txt").write_text("not a folder\n")
    (folder / "empty").mkdir()
    (folder / "kp.json").write_text('{"nope": 1}')
    (folder / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet at all PAR1")
    pq.write_table(pa.table({"clip_id": ["a"], "svg_uri": ["a.svg"]}), folder / "no-prompt.parquet")
    return folder


@pytest.fixture(scope="module")
def outcomes(scratch: Path) -> dict[str, Outcome]:
    """Every case run once: the subprocesses a few at a time, then the in-process ones."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("RAY_ADDRESS", None)
    env.pop("PREFECT_API_URL", None)

    def argv_of(case: Refusal) -> list[str]:
        return [part.replace("{tmp}", str(scratch)) for part in case.argv]

    def in_shared_process(argvs: list[list[str]]) -> list[Outcome]:
        results = scratch / "shared-process.json"
        done = subprocess.run(
            [sys.executable, "-c", SHARED_PROCESS, json.dumps(argvs), str(results)],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            cwd=scratch,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
        return [Outcome(*outcome) for outcome in json.loads(results.read_text())]

    def in_subprocess(case: Refusal) -> Outcome:
        done = subprocess.run(
            [sys.executable, "-m", "flexiclip_cli", *argv_of(case)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=scratch,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def in_process(case: Refusal) -> Outcome:
        from typer.testing import CliRunner

        from flexiclip_cli.main import app

        result = CliRunner().invoke(app, argv_of(case))
        crash = "" if isinstance(result.exception, SystemExit | None) else f"\nTraceback: {result.exception!r}"
        return Outcome(result.exit_code, result.stdout, result.stderr + crash)

    separate = [case for case in CASES if not (case.in_process or case.shared_process)]
    shared = [case for case in CASES if case.shared_process]
    # Last in the shared process: --verbose leaves debug logging on for the rest of the process.
    shared_argvs = [argv_of(case) for case in shared] + [[part.replace("{tmp}", str(scratch)) for part in VERBOSE_RUN]]
    with ThreadPoolExecutor(max_workers=max(2, min(6, os.cpu_count() or 2))) as pool:
        shared_outcomes = pool.submit(in_shared_process, shared_argvs)
        found = dict(zip((case.name for case in separate), pool.map(in_subprocess, separate), strict=True))
        *of_cases, verbose = shared_outcomes.result()
    found.update(zip((case.name for case in shared), of_cases, strict=True))
    found.update((case.name, in_process(case)) for case in CASES if case.in_process)
    found[VERBOSE] = verbose
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_refusal_exits_2_with_one_error_line(case: Refusal, outcomes: dict[str, Outcome], scratch: Path):
    done = outcomes[case.name]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.exit_code == EXIT_BAD_INPUT, done.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    assert not case.alone or lines == errors, done.stderr
    assert case.expect.replace("{tmp}", str(scratch)) in errors[0], errors[0]
    assert done.stdout.strip() == "", done.stdout


def test_verbose_refusal_shows_the_traceback(outcomes: dict[str, Outcome]):
    done = outcomes[VERBOSE]
    assert done.exit_code == EXIT_BAD_INPUT, done.stderr
    assert "Traceback" in done.stderr and "cannot read as Parquet" in done.stderr, done.stderr


def _literal_parts(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value for part in node.values if isinstance(part, ast.Constant) and isinstance(part.value, str)]
    return []


def cli_refusal_messages() -> list[tuple[str, re.Pattern[str]]]:
    """(where, a pattern of its text) for every ``BadInput(...)`` and ``typer.echo("error: ...")``
    in the CLI's source: the message's literal parts, anything between them."""
    found = []
    for path in sorted(CLI_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            callee = ast.unparse(node.func)
            parts = _literal_parts(node.args[0])
            is_bad_input = callee == "BadInput"
            is_error_line = callee == "typer.echo" and bool(parts) and parts[0].startswith("error: ")
            if (is_bad_input or is_error_line) and parts:
                found.append((f"{path.name}:{node.lineno}", re.compile(".*".join(map(re.escape, parts)))))
    return found


def test_every_refusal_in_the_cli_source_has_a_case(outcomes: dict[str, Outcome]):
    messages = cli_refusal_messages()
    assert len(messages) >= 10  # the scan sees the CLI's refusals at all
    # A flow run that crashed is not input the CLI refuses: no bad input reaches that line.
    unreachable_here = {"error: the run crashed: "}
    error_lines = [
        line for done in outcomes.values() for line in done.stderr.splitlines() if line.startswith("error: ")
    ]
    missing = [
        f"{where}: {pattern.pattern!r}"
        for where, pattern in messages
        if pattern.pattern not in {re.escape(text) for text in unreachable_here}
        and not any(pattern.search(line) for line in error_lines)
    ]
    assert not missing, "refusals without a case in CASES: " + "; ".join(missing)
