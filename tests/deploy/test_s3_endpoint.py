"""An S3-compatible store reached by an endpoint override, as MinIO (or Ceph, R2, ...) needs.

The endpoint is given the way docs/clusters.md tells operators to give it: ``AWS_ENDPOINT_URL``
in the environment (from a Kubernetes Secret), with a host *name*, not an IP address, so the
client libraries could choose virtual-hosted addressing (``bucket.host``), which such stores do
not serve without wildcard DNS. The shared moto server on 127.0.0.1 stands in for the store,
reached as ``localhost``; its request log shows which addressing both libraries used (s3fs for
media and staging, delta-rs for the catalog).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from catalogs.output import OutputCatalog
from catalogs.rows import MediaRef, OutputRow, Status
from catalogs.storage import delta_storage_options, fsspec_storage_options, storage_options_from_env
from tests.s3_server import BUCKET

REQUEST = re.compile(r'"(?:GET|PUT|HEAD|POST|DELETE) (\S+) HTTP')


def moto_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared moto server's request log (tests/s3_server.py writes it under a ``moto`` temp folder)."""
    (log,) = tmp_path_factory.getbasetemp().glob("moto[0-9]*/moto.log")
    return log


def test_endpoint_override_by_host_name_reaches_the_store_path_style(
    s3_options: dict[str, str], prefix: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    port = urlsplit(s3_options["AWS_ENDPOINT_URL"]).port
    endpoint = f"http://localhost:{port}"
    environ = {
        "AWS_ENDPOINT_URL": "https://s3.amazonaws.com",  # AWS_ENDPOINT_URL_S3 wins over it
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "HOME": "/nonexistent",
    }
    options = storage_options_from_env(environ)
    assert options == {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",  # implied by the http:// endpoint (delta-rs refuses plain HTTP without it)
    }
    assert fsspec_storage_options(options) == {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }
    assert delta_storage_options(options) == options

    root = f"{prefix}/minio"
    key_prefix = root.removeprefix(f"s3://{BUCKET}/")
    catalog = OutputCatalog(root, storage_options=options)
    media = tmp_path / "poster.png"
    media.write_bytes(b"\x89PNG not really")
    uri, digest = catalog.put_media(media, ".png")
    assert digest == hashlib.sha256(b"\x89PNG not really").hexdigest()
    assert uri == f"{root}/media/{digest[:2]}/{digest}.png"
    row = OutputRow(
        clip_id="plant", status=Status.SUCCEEDED, idempotency_key="ab" * 32, media={"poster": MediaRef(uri, digest)}
    )
    catalog.stage(row)
    assert catalog.commit([row], run_id="minio-run") == 0
    (read,) = OutputCatalog(root, storage_options=options).read().to_dict("records")
    assert (read["clip_id"], read["run_id"], read["poster_uri"]) == ("plant", "minio-run", uri)
    assert catalog.media_exists(uri) and catalog.staged() == {}

    # Path-style: every request for this root names the bucket as the first path segment
    # (virtual-hosted requests would start with the key). Both libraries made some.
    paths = [m.group(1) for m in REQUEST.finditer(moto_log(tmp_path_factory).read_text()) if key_prefix in m.group(1)]
    assert any("/_delta_log/" in p for p in paths) and any("/media/" in p for p in paths), paths
    assert all(p.startswith((f"/{BUCKET}/", f"/{BUCKET}?")) for p in paths), paths
