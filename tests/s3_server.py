"""The moto S3 server the S3 tests share (a pytest plugin, registered in `tests/conftest.py`):
``s3_options`` (a bucket on 127.0.0.1), ``prefix`` (a fresh prefix in it) and ``loopback_only``
(fails a test whose Python code connected beyond loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BUCKET = "flexiclip-test"
_CONNECTIONS: list[object] = []
_RECORDING: list[bool] = []


def _record_connections(event: str, args: tuple) -> None:
    # Audit hooks cannot be removed, so this one is inert unless a test is recording.
    if _RECORDING and event == "socket.connect":
        _CONNECTIONS.append(args[1])


sys.addaudithook(_record_connections)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def s3_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Storage options (delta-rs spelling) for a bucket on a moto server on 127.0.0.1."""
    port = _free_port()
    script = Path(sys.executable).with_name("moto_server")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true")
    patch = pytest.MonkeyPatch()
    # No AWS client in this process may look for instance metadata or the user's AWS profile.
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    patch.setenv("AWS_CONFIG_FILE", os.devnull)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    with open(log_path, "wb") as log_file:
        server = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)], stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
    try:
        _wait_for_port(port, server, timeout=60)
        options = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=options["AWS_ENDPOINT_URL"],
            aws_access_key_id=options["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=options["AWS_SECRET_ACCESS_KEY"],
            region_name=options["AWS_REGION"],
        ).create_bucket(Bucket=BUCKET)  # us-east-1: no LocationConstraint (s3fs.mkdir sends one)
        yield options
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
        patch.undo()


@pytest.fixture
def prefix() -> str:
    """A fresh s3:// prefix in the test bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def loopback_only() -> Iterator[None]:
    """Fails the test if Python code in this process connected anywhere but 127.0.0.1."""
    _CONNECTIONS.clear()
    _RECORDING.append(True)
    try:
        yield
    finally:
        _RECORDING.clear()
    hosts = {address[0] for address in _CONNECTIONS if isinstance(address, tuple)}
    assert hosts <= {"127.0.0.1"}, f"connections beyond loopback: {sorted(hosts)}"
