"""Shared fixtures: sample clipart and the openclipart corpus (whole, or the committed sample).

Two tiers. Tests marked ``corpus_full`` run over whole corpus folders (or, for the video-fit
known-answer matrix, over every motion and container); `make test` runs the same checks on the
fixed, stratified sample in tests/data/corpus_sample.txt (chosen by scripts/corpus_sample.py).
Tests marked ``cluster`` run the pipeline on a real multi-node Ray cluster or through a Ray job
server (minutes of start-ups on a 2-core machine); `make test` covers the same code paths on
one node (tests/tasks/test_cluster_parts.py, tests/deploy/test_manifests.py). Tests marked
``robustness`` kill a worker or the flow mid-run, wait out a clip timeout, or run two flows at
once on one root; `make test` runs the same pool and catalog on their normal paths (and the
catalog's concurrent commits in tests/catalogs/test_output.py). All three are skipped unless
pytest gets ``--full`` (`make test-full`, which CI runs after `make test` on every change).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "catalogs" / "samples"
CORPUS_SAMPLE = REPO_ROOT / "tests" / "data" / "corpus_sample.txt"

# The moto S3 server fixtures (s3_options, prefix, loopback_only), for every test folder.
pytest_plugins = ["tests.s3_server"]

# Tests never reach the hub or send telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        "--corpus-full",
        action="store_true",
        help="run the make test-full tier (tests marked corpus_full, cluster or robustness)",
    )


MODULE_SECONDS: dict[str, int] = {
    "tests/flows/test_nightly.py": 255,
    "tests/flows/test_evaluate_run.py": 195,
    "tests/flows/test_nightly_s3.py": 110,
    "tests/flows/test_deployment.py": 90,
    "tests/flows/test_videofit_run.py": 75,
    "tests/e2e/test_report_browser.py": 70,
    "tests/flows/test_nightly_rows.py": 60,
    "tests/flexiclip_cli/test_refusals.py": 45,
    "tests/tasks/test_pool.py": 45,
    "tests/flexiclip_core/test_convergence.py": 45,
    "tests/flexiclip_core/test_lockstep.py": 45,
    "tests/flexiclip_core/guidance/test_flops_bench.py": 40,
    "tests/flexiclip_core/test_execution.py": 40,
    "tests/flexiclip_core/test_animate.py": 35,
    "tests/flexiclip_core/test_convergence_flow.py": 30,
    "tests/tasks/test_evaluate.py": 30,
    "tests/flexiclip_core/videofit/test_fit.py": 30,
    "tests/e2e/test_lottie_browser.py": 28,
    "tests/flows/test_exit_codes.py": 28,
    "tests/flexiclip_core/guidance/test_gpu_bench.py": 25,
    "tests/tasks/test_batch.py": 25,
    "tests/flows/test_console.py": 16,
}
"""Estimated seconds of the longest modules in `make test` on an idle 2-core machine (the sum of
their tests' `--durations`), to hand them to the xdist workers longest first: from the idle
clean-clone run of 2026-12-07 02:17 (its 25 slowest tests, with the junit report for the rest),
rescaled where tests moved since (six drawings in the evaluate run, the robustness tier; the
preflight refusals of test_console.py and test_exit_codes.py into test_refusals.py's one shared
process, each module scaled by its CPU seconds before and after).
Refresh them when a module's cost moves a lot (`make test` prints the slowest tests)."""

SLOW_MODULE_SECONDS = 20
"""The estimate for a module with a ``slow`` test that MODULE_SECONDS does not list (others: 0)."""


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the make test-full tier unless --full, and order the modules longest first.

    Under ``make test`` (pytest-xdist, ``--dist loadfile --no-loadscope-reorder``) each module
    goes whole to one worker, in this order, whenever that worker is down to its last two tests:
    the longest modules start first and the last ones handed out are short, so both workers
    finish at about the same time (largest-first scheduling, with MODULE_SECONDS as the
    estimates). Modules of equal estimate keep their collection order.
    """
    if not config.getoption("--full"):
        skips = {
            "corpus_full": pytest.mark.skip(
                reason="make test-full only (whole corpus, or the video-fit matrix); make test runs the sample"
            ),
            "cluster": pytest.mark.skip(
                reason="make test-full only (multi-node Ray, Ray job server); make test runs the parts on one node"
            ),
            "robustness": pytest.mark.skip(
                reason="make test-full only (processes killed mid-run, timeouts waited out, two runs at once)"
            ),
        }
        for item in items:
            for marker, skip in skips.items():
                if item.get_closest_marker(marker):
                    item.add_marker(skip)
    estimate: dict[str, int] = {}
    for item in items:
        module = module_of(item)
        slow = SLOW_MODULE_SECONDS if item.get_closest_marker("slow") else 0
        estimate[module] = max(estimate.get(module, 0), MODULE_SECONDS.get(module, slow))
    items.sort(key=lambda item: -estimate[module_of(item)])


def openclipart_root() -> Path:
    """The openclipart-svg corpus (fetched with apt-get download + dpkg -x on first use)."""
    env = os.environ.get("FLEXICLIP_OPENCLIPART")
    if env:
        return Path(env)
    dest = REPO_ROOT / ".cache" / "openclipart"
    root = dest / "usr" / "share" / "openclipart" / "svg"
    if not (root / "people").is_dir():
        subprocess.run([str(REPO_ROOT / "scripts" / "fetch_openclipart.sh"), str(dest)], check=True)
    return root


def openclipart_files(*folders: str) -> list[Path]:
    """Every .svg under the given corpus folders (recursively), sorted."""
    root = openclipart_root()
    files: list[Path] = []
    for folder in folders:
        files.extend(sorted((root / folder).rglob("*.svg")))
    return files


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def corpus_people_animals() -> list[Path]:
    return openclipart_files("people", "animals")


def corpus_sample_files() -> list[Path]:
    """The committed corpus sample (tests/data/corpus_sample.txt), as paths in the corpus."""
    root = openclipart_root()
    lines = (line.split("#", 1)[0].strip() for line in CORPUS_SAMPLE.read_text(encoding="utf-8").splitlines())
    return [root / line for line in lines if line]


@pytest.fixture(scope="session")
def corpus_sample() -> list[Path]:
    return corpus_sample_files()


SHARED_SERVER = "prefect-server.json"
"""Where the xdist workers of one session find their shared Prefect server (url, pid, folder),
in the session's base temp folder; `pytest_sessionfinish` on the controller stops it."""


def _session_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The base temp folder all xdist workers of this session share (None outside xdist)."""
    return tmp_path_factory.getbasetemp().parent if hasattr(config, "workerinput") else None


@pytest.fixture(scope="session")
def prefect_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``PREFECT_API_URL`` of one real Prefect server on 127.0.0.1 for the whole session (all
    xdist workers share it; the first that needs it starts it), for the end-to-end runs that are
    not about the embedded API: each `flexiclip run` then skips an ephemeral API's start-up (a
    fresh database, its migrations, uvicorn: about 19 s of CPU on this 2-core machine, and the
    server's own background work while it lives). The runs that test the embedded defaults keep
    them: the first nightly test and the killed-run test (which also needs the dead run's own
    database). Tests on this server find their own runs and artifacts by id or output root."""
    import json

    from filelock import FileLock

    from tests.flows.harness import prefect_server, start_prefect_server

    root = _session_root(request.config, tmp_path_factory)
    if root is None:  # one process: the server lives as long as this fixture
        with tempfile.TemporaryDirectory(prefix="fxprefect-") as base, prefect_server(Path(base)) as env:
            yield env["PREFECT_API_URL"]
        return
    with FileLock(str(root / (SHARED_SERVER + ".lock"))):
        record = root / SHARED_SERVER
        if not record.exists():
            folder = Path(tempfile.mkdtemp(prefix="fxprefect-"))
            url, server = start_prefect_server(folder)  # outlives this worker: the controller stops it
            record.write_text(json.dumps({"url": url, "pid": server.pid, "base": str(folder)}))
        url = json.loads(record.read_text())["url"]
    yield url  # the lock is released: the other workers read the record


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the xdist controller: stop the session's shared Prefect server (see `prefect_api`)."""
    import json
    import shutil

    from tests.flows.harness import stop_prefect_server

    if hasattr(session.config, "workerinput") or not getattr(session.config.option, "numprocesses", None):
        return
    record = session.config._tmp_path_factory.getbasetemp() / SHARED_SERVER  # type: ignore[attr-defined]
    if not record.exists():
        return
    server = json.loads(record.read_text())
    stop_prefect_server(server["pid"])  # not this process's child: it is reaped by init
    shutil.rmtree(server["base"], ignore_errors=True)
    record.unlink()
