"""Storage options and file-system access shared by the input and output catalogs.

Two libraries reach S3 here and spell the same settings differently: fsspec/s3fs (used for the
input catalog, SVGs, media and staging) wants ``key``/``secret``/``endpoint_url``/
``client_kwargs={"region_name": ...}``; delta-rs wants ``AWS_ACCESS_KEY_ID``/``AWS_ENDPOINT_URL``/
``AWS_REGION``/``AWS_ALLOW_HTTP`` string values. Every public function of the catalog layer
accepts either spelling and converts with `fsspec_storage_options` / `delta_storage_options`.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from catalogs.errors import CatalogError

log = logging.getLogger(__name__)

_DELTA_TO_FSSPEC = {
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
    "AWS_ENDPOINT_URL": "endpoint_url",
}
_FSSPEC_TO_DELTA = {value: key for key, value in _DELTA_TO_FSSPEC.items()}
_REGION_KEYS = ("AWS_REGION", "AWS_DEFAULT_REGION")
_TRUE = {"1", "true", "yes", "on"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
CHUNKS_PER_THREAD = 4
"""`map_in_threads` hands each thread about this many batches (a slow object holds up only its own)."""


def map_in_threads(function: Callable[[_Item], _Result], items: Sequence[_Item], threads: int) -> list[_Result]:
    """``[function(item) for item in items]``, in order, on ``threads`` threads, each call of a
    batch of consecutive items one after the other: as many reads or HEADs in flight as threads
    (object-store latency is the cost), without a future per item (a thread pool's own cost per
    task is about ten times a local stat: 60 % of checking 57,000 local media files)."""
    if len(items) <= 1 or threads <= 1:
        return [function(item) for item in items]
    size = -(-len(items) // (threads * CHUNKS_PER_THREAD))
    batches = [items[start : start + size] for start in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = pool.map(lambda batch: [function(item) for item in batch], batches)
        return [result for batch in done for result in batch]


def storage_options_from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> dict[str, str]:
    """The S3 settings found in the environment, in delta-rs spelling (``AWS_*`` → str).

    Reads AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN, AWS_REGION (or AWS_DEFAULT_REGION) and AWS_ALLOW_HTTP. An ``http://``
    endpoint implies AWS_ALLOW_HTTP=true. Every function of the catalog layer accepts this dict
    as ``storage_options``; `fsspec_storage_options` gives the s3fs spelling of it.
    """
    env = os.environ if environ is None else environ
    options: dict[str, str] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ALLOW_HTTP"):
        if env.get(name):
            options[name] = env[name]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["AWS_REGION"] = region
    if endpoint and endpoint.lower().startswith("http://"):
        options.setdefault("AWS_ALLOW_HTTP", "true")
    return options


def fsspec_storage_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``options`` (either spelling) in the spelling of ``s3fs.S3FileSystem(**options)``."""
    out: dict[str, Any] = {}
    for name, value in (options or {}).items():
        upper = name.upper()
        if upper in _DELTA_TO_FSSPEC:
            out[_DELTA_TO_FSSPEC[upper]] = value
        elif upper in _REGION_KEYS:
            out.setdefault("client_kwargs", {})["region_name"] = value
        elif upper == "AWS_SKIP_SIGNATURE":
            out["anon"] = str(value).lower() in _TRUE
        elif upper.startswith("AWS_"):
            # AWS_ALLOW_HTTP and delta-rs-only settings: s3fs needs no equivalent.
            continue
        elif name == "client_kwargs":
            out.setdefault("client_kwargs", {}).update(value)
        else:
            out[name] = value
    return out


def delta_storage_options(options: dict[str, Any] | None) -> dict[str, str] | None:
    """``options`` (either spelling) in the spelling of delta-rs (``AWS_*`` keys, str values)."""
    if not options:
        return None
    out: dict[str, str] = {}
    for name, value in options.items():
        if name in _FSSPEC_TO_DELTA:
            out[_FSSPEC_TO_DELTA[name]] = str(value)
        elif name == "client_kwargs":
            region = (value or {}).get("region_name")
            if region:
                out.setdefault("AWS_REGION", str(region))
            endpoint = (value or {}).get("endpoint_url")
            if endpoint:
                out.setdefault("AWS_ENDPOINT_URL", str(endpoint))
        elif name == "anon":
            out["AWS_SKIP_SIGNATURE"] = "true" if value else "false"
        elif name.upper().startswith("AWS_"):
            out[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            log.debug("storage option %r has no delta-rs equivalent; not passed to delta-rs", name)
    endpoint = out.get("AWS_ENDPOINT_URL", "")
    if endpoint.lower().startswith("http://"):
        out.setdefault("AWS_ALLOW_HTTP", "true")
    return out


def s3_filesystem(storage_options: dict[str, Any] | None):  # -> s3fs.S3FileSystem
    """An s3fs file system for ``storage_options`` (either spelling)."""
    import fsspec  # imported here: local-only callers never pay for s3fs/aiobotocore

    return fsspec.filesystem("s3", **fsspec_storage_options(storage_options))


def uri_scheme(uri: str) -> str | None:
    """The lower-case URI scheme of ``uri`` ('s3', 'file', ...) or None for a plain path."""
    match = _SCHEME.match(uri)
    if match is None:
        return None
    return match.group(1).lower()


def is_s3(uri: str) -> bool:
    return uri_scheme(uri) == "s3"


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/...`` → (bucket, key without leading slash); CatalogError if malformed."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise CatalogError(f"{uri!r} is not an s3://bucket/key URI")
    if parts.query or parts.fragment:
        raise CatalogError(f"{uri!r}: s3 URIs take no query or fragment")
    return parts.netloc, parts.path.lstrip("/")


def s3_path(uri: str) -> str:
    """``s3://bucket/key`` → ``bucket/key`` (the form s3fs paths take)."""
    bucket, key = split_s3(uri)
    return posixpath.join(bucket, key) if key else bucket


def file_uri_to_path(uri: str) -> str:
    """``file:///abs/path`` (or ``file://localhost/abs/path``) → ``/abs/path``; CatalogError otherwise."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file":
        raise CatalogError(f"{uri!r} is not a file:// URI")
    if parts.netloc not in ("", "localhost"):
        raise CatalogError(f"{uri!r}: file URIs on another host ({parts.netloc!r}) are not supported")
    if parts.query or parts.fragment:
        raise CatalogError(f"{uri!r}: file URIs take no query or fragment")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise CatalogError(f"{uri!r}: file URI path is not absolute")
    return path
