"""The pieces of a cluster run that need no cluster: what a job sends to its workers, the
driver's prior decision and root probe, a worker's choice of where media goes, and the driver
publishing media a worker sent back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from catalogs.output import OutputCatalog
from catalogs.rows import OutputRow, Status
from tasks.preflight import PreflightError, check_output_root, probe_name, resolve_prior, write_probe
from tasks.runtime import SHIPPED_PACKAGES, worker_runtime_env
from tasks.worker import PUBLISH_TO_ROOT, PUBLISH_VIA_DRIVER, ClipWorker, publish_shipped_media

DRIVER_ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
    "FLEXICLIP_T2V_MODEL": "/models/t2v",
    "FLEXICLIP_NET_GUARD": "probes",
    "FLEXICLIP_RAY_TMP": "/tmp/driver-only",
    "FLEXICLIP_API_TOKEN": "not-for-workers",
    "HF_HUB_OFFLINE": "1",
    "HOME": "/root",
    "PATH": "/usr/bin",
}


def test_job_env_carries_settings_but_no_secrets_unless_asked():
    env = worker_runtime_env(DRIVER_ENV)
    assert env["env_vars"] == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1",
        "FLEXICLIP_T2V_MODEL": "/models/t2v",
        "FLEXICLIP_NET_GUARD": "probes",
        "HF_HUB_OFFLINE": "1",
    }
    assert sorted(Path(p).name for p in env["py_modules"]) == sorted(SHIPPED_PACKAGES)
    assert all(Path(p, "__init__.py").is_file() for p in env["py_modules"])
    forwarded = worker_runtime_env(DRIVER_ENV, forward_credentials=True)["env_vars"]
    assert forwarded["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE" and forwarded["AWS_SESSION_TOKEN"] == "token"
    assert forwarded["FLEXICLIP_API_TOKEN"] == "not-for-workers"
    assert "py_modules" not in worker_runtime_env({**DRIVER_ENV, "FLEXICLIP_SHIP_CODE": "0"})


def test_prior_is_decided_on_the_driver(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FLEXICLIP_T2V_MODEL", str(tmp_path / "absent"))
    auto = resolve_prior("auto")
    assert auto.spec == "tiny" and "absent" in auto.fallback_reason
    assert resolve_prior("tiny").spec == "tiny" and resolve_prior("tiny").fallback_reason is None
    with pytest.raises(PreflightError, match="unknown"):
        resolve_prior("sora")
    with pytest.raises(PreflightError, match="modelscope"):
        resolve_prior("modelscope")


def test_root_probe_refuses_a_file_and_creates_a_folder(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PreflightError, match="is a file"):
        check_output_root(OutputCatalog(tmp_path / "file"))
    check_output_root(OutputCatalog(tmp_path / "new" / "root"))
    assert (tmp_path / "new" / "root" / ".flexiclip").is_dir()
    assert not list((tmp_path / "new" / "root" / ".flexiclip").iterdir())  # the probe was removed


def test_worker_writes_to_a_root_it_shares_and_sends_media_back_otherwise(tmp_path: Path):
    catalog = OutputCatalog(tmp_path / "out")
    probe = probe_name()
    write_probe(catalog, probe)
    shared = ClipWorker("tiny", str(tmp_path / "out"), root_probe=probe)
    assert shared.info().setup_error is None and shared.info().publishes == PUBLISH_TO_ROOT
    # Another node: the same path, but a disk without the driver's probe.
    elsewhere = ClipWorker("tiny", str(tmp_path / "node-disk"), root_probe=probe)
    assert elsewhere.info().publishes == PUBLISH_VIA_DRIVER
    assert not (tmp_path / "node-disk").exists()  # it wrote nothing there
    broken = ClipWorker("no-such-prior", str(tmp_path / "out"), root_probe=probe)
    assert broken.info().setup_error and "no-such-prior" in broken.info().setup_error


def test_driver_publishes_media_sent_back_and_fails_the_clip_when_it_cannot(tmp_path: Path):
    row = OutputRow(run_id="r", clip_id="c", status=Status.SUCCEEDED, idempotency_key="0" * 64)
    payload = b"\x00mp4 bytes"
    published = publish_shipped_media(OutputCatalog(tmp_path / "out"), row, {"video": (payload, ".mp4")})
    digest = hashlib.sha256(payload).hexdigest()
    assert published.media["video"].sha256 == digest
    assert Path(published.media["video"].uri).read_bytes() == payload
    (tmp_path / "file").write_text("x")
    failed = publish_shipped_media(OutputCatalog(tmp_path / "file"), row, {"video": (payload, ".mp4")})
    assert failed.status is Status.FAILED and "could not be published" in failed.error_message
    assert failed.media == {}  # nothing points at a file that is not there


def test_a_flow_run_owner_is_alive_dead_or_unknown():
    import socket
    import subprocess
    import sys

    from tasks.liveness import owner_alive, owner_token

    assert owner_alive(owner_token()) is True
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(done.stdout)
    assert owner_alive(f"{socket.gethostname()}:{pid}:12345") is False  # gone (or a reused pid: other start time)
    assert owner_alive(f"elsewhere.example:{pid}:12345") is None  # another host: cannot tell
    assert owner_alive("garbage") is None


def _one_job(tmp_path: Path):
    from catalogs.input import read_catalog, read_svg_bytes
    from tasks.plan import base_config, build_jobs
    from tests.flows.harness import sample_rows, write_catalog

    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", sample_rows(tmp_path / "in", ["object"]))
    config = base_config("flexiclip", iterations=1, overrides={"render.size": 32})
    valid, errors = read_catalog(str(catalog), validate_config=config.with_overrides)
    plan = build_jobs(
        valid, errors, run_id="r", config=config, prior_name="tiny", code_version="0+test", read_svg=read_svg_bytes
    )
    (job,) = plan.jobs
    return job


def test_worker_publishes_every_written_kind_and_the_source_svg_directly_or_through_the_driver(tmp_path: Path):
    from catalogs.rows import MEDIA_KINDS
    from tasks.worker import ShippedMedia

    job = _one_job(tmp_path)
    catalog = OutputCatalog(tmp_path / "out")
    probe = probe_name()
    write_probe(catalog, probe)
    from flexiclip_core.config import worker_execution

    worker = ClipWorker("tiny", str(tmp_path / "out"), root_probe=probe)
    assert worker.execution == worker_execution("cpu")  # a long-lived worker's settings (CUDA: compiled prior)
    direct = worker.animate(job)
    assert isinstance(direct, OutputRow) and direct.status is Status.SUCCEEDED, direct
    # Every default export format, the motion arrays, config.json and the input SVG; APNG is opt-in.
    expected = {kind.name for kind in MEDIA_KINDS} - {"apng"}
    assert set(direct.media) == expected
    assert Path(direct.media["source_svg"].uri).read_bytes() == job.svg_bytes
    assert all(Path(ref.uri).is_file() for ref in direct.media.values())
    assert direct.prior_licence == worker.prior.licence == worker.info().prior_licence

    shipped = ClipWorker("tiny", str(tmp_path / "node-disk"), root_probe=probe).animate(job)
    assert isinstance(shipped, ShippedMedia) and set(shipped.media) == expected
    published = publish_shipped_media(catalog, shipped.row, shipped.media)
    assert set(published.media) == expected and published.prior_licence == direct.prior_licence
    # Content-addressed: the source SVG shipped back is the very object the direct path published.
    assert published.media["source_svg"] == direct.media["source_svg"]
