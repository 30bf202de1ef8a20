"""Checks a run makes before it spends compute: its settings valid, output root writable, catalog
readable, prior (and reference generator) found.

`flexiclip run` calls `preflight` before it starts Prefect or Ray, so a bad setting, root,
catalog or prior costs seconds, not a whole batch, and exits 2 with one line. The flow repeats the root
probe and the prior resolution at its start (deployment runs do not go through the CLI) and
keeps its probe object for the run: a clip worker that can read it sits on the driver's storage
(see `tasks.worker` and docs/pipeline.md §6).

Every failure is a `PreflightError` whose message is one line: what is wrong and what to do.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from catalogs.errors import CatalogError

if TYPE_CHECKING:  # imported where used: the guidance package loads torch
    from flexiclip_core.config import AnimationConfig
    from flexiclip_core.guidance.choice import PriorChoice

log = logging.getLogger(__name__)

PROBE_FOLDER = ".flexiclip"
"""Folder under the output root holding the runs' write probes (small, deleted after each run)."""


class PreflightError(CatalogError):
    """The run cannot start: the output root, the input catalog or the prior is unusable."""


def probe_name(token: str | None = None) -> str:
    """Relative path (under the root) of a probe object: ``.flexiclip/probe-<token>``."""
    return f"{PROBE_FOLDER}/probe-{token or uuid.uuid4().hex}"


def write_probe(output_catalog, name: str) -> None:  # output_catalog: catalogs.output.OutputCatalog
    """Create ROOT (locally) and write the probe object ``name`` under it; PreflightError if not.

    The probe holds the writer's host and pid and its `tasks.liveness.owner_token`, so a reader
    can tell whose it is and whether that process still runs (`remove_stale_probes`).
    """
    import socket

    from tasks.liveness import owner_token

    payload = f"{socket.gethostname()} {os.getpid()} {owner_token()}\n".encode()
    root = output_catalog.root
    try:
        if output_catalog.is_s3:
            from catalogs.storage import s3_path

            output_catalog._fs.pipe_file(s3_path(f"{root}/{name}"), payload)
            return
        target = Path(root, name)
        if Path(root).exists() and not Path(root).is_dir():
            raise PreflightError(
                f"output root {root!r} is a file, not a folder: give a folder (or s3:// URI) for --output"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    except PreflightError:
        raise
    except Exception as exc:  # OSError, botocore/s3fs errors: all mean "cannot write here"
        raise PreflightError(
            f"output root {root!r} is not writable ({_reason(exc)}): fix its permissions, "
            "mount or credentials, or choose another --output"
        ) from exc


def probe_exists(output_catalog, name: str) -> bool:
    """Whether the probe object ``name`` is visible from this process (errors propagate)."""
    if output_catalog.is_s3:
        from catalogs.storage import s3_path

        path = s3_path(f"{output_catalog.root}/{name}")
        output_catalog._fs.invalidate_cache(path)
        return bool(output_catalog._fs.exists(path))
    return Path(output_catalog.root, name).is_file()


def remove_probe(output_catalog, name: str) -> None:
    """Delete the probe object ``name`` (missing is fine; other errors are logged, not raised)."""
    try:
        if output_catalog.is_s3:
            from catalogs.storage import s3_path

            output_catalog._fs.rm_file(s3_path(f"{output_catalog.root}/{name}"))
        else:
            Path(output_catalog.root, name).unlink(missing_ok=True)
    except FileNotFoundError:
        pass
    except Exception as exc:  # a leftover probe is a few bytes; never fail a run over it
        log.warning("could not remove the probe %s under %s: %s", name, output_catalog.root, _reason(exc))


def _probe_is_stale(payload: str) -> bool:
    """Whether a probe's writer is known to be gone: its owner token (``HOST:PID:START``) names a
    process on this host that no longer runs. A probe from another host, or unreadable, is kept:
    nothing here can tell that its run ended."""
    from tasks.liveness import owner_alive

    fields = payload.split()
    return len(fields) >= 3 and owner_alive(fields[2]) is False


def remove_stale_probes(output_catalog, keep: str) -> list[str]:
    """Delete the probes under ``ROOT/.flexiclip/`` left by runs that were killed (their process on
    this host is gone), except ``keep``; returns the names removed. Errors are logged, never raised."""
    removed: list[str] = []
    entries: list[tuple[str, Callable[[], bytes]]]
    try:
        if output_catalog.is_s3:
            from catalogs.storage import s3_path

            folder = s3_path(f"{output_catalog.root}/{PROBE_FOLDER}")
            fs = output_catalog._fs
            fs.invalidate_cache(folder)
            paths = fs.ls(folder, detail=False) if fs.exists(folder) else []
            entries = [
                (f"{PROBE_FOLDER}/{path.rsplit('/', 1)[-1]}", functools.partial(fs.cat_file, path)) for path in paths
            ]
        else:
            folder_path = Path(output_catalog.root, PROBE_FOLDER)
            files = sorted(folder_path.glob("probe-*")) if folder_path.is_dir() else []
            entries = [(f"{PROBE_FOLDER}/{path.name}", path.read_bytes) for path in files]
        for name, read in entries:
            if name == keep or not name.rsplit("/", 1)[-1].startswith("probe-"):
                continue
            try:
                stale = _probe_is_stale(read().decode("utf-8", errors="replace"))
            except FileNotFoundError:
                continue  # its run finished meanwhile
            if stale:
                remove_probe(output_catalog, name)
                removed.append(name)
    except Exception as exc:  # a leftover probe is a few bytes; never fail a run over it
        log.warning("could not clean the probes under %s: %s", output_catalog.root, _reason(exc))
    if removed:
        log.info("removed %d probe(s) of killed runs under %s", len(removed), output_catalog.root)
    return removed


def check_output_root(output_catalog) -> None:
    """Create the output root if needed and prove it takes a write (and a delete)."""
    name = probe_name()
    write_probe(output_catalog, name)
    remove_probe(output_catalog, name)


def resolve_prior(spec: str) -> PriorChoice:
    """Decide which prior the run uses (`choose_prior`: the ``auto`` policy's one home);
    PreflightError for an unknown name or absent weights. Nothing is loaded."""
    from flexiclip_core.errors import ConfigError, PriorUnavailable
    from flexiclip_core.guidance.choice import choose_prior

    try:
        return choose_prior(spec)
    except (ConfigError, PriorUnavailable) as exc:
        raise PreflightError(str(exc)) from exc


def check_run_config(method: str, iterations: int | None, overrides: dict | None) -> AnimationConfig:
    """The run's config (`tasks.plan.base_config`: the preset, the ``--set`` overrides, a known
    ``video_fit.generator``); PreflightError with its one line if it is not valid."""
    from flexiclip_core.errors import ConfigError
    from tasks.plan import base_config

    try:
        return base_config(method, iterations, overrides)
    except ConfigError as exc:
        raise PreflightError(str(exc)) from exc


def resolve_generator(config: AnimationConfig) -> str | None:
    """The result_key of the generator a video-fit run's config names (None when it names none),
    from its weights' files without loading them (`tasks.plan.generator_identity`): absent
    weights are a PreflightError, before any worker would fail every generated clip on them."""
    from tasks.plan import VIDEO_FIT, generator_identity

    name = config.video_fit.generator
    if config.objective != VIDEO_FIT or name is None:
        return None
    identity = generator_identity(name)
    if isinstance(identity, BaseException):
        raise PreflightError(str(identity)) from identity
    return identity


def preflight(
    catalog: str,
    output: str,
    prior: str,
    storage_options: dict | None,
    *,
    method: str = "flexiclip",
    iterations: int | None = None,
    overrides: dict | None = None,
) -> PriorChoice:
    """Everything `flexiclip run` checks before it starts Prefect or Ray; PreflightError if any fails.

    Order: the run's settings (``method``, ``iterations``, ``overrides``: `check_run_config`), the
    output root (a file, read-only, missing bucket, no credentials), the input catalog (exists, is
    Parquet, has the required columns), the prior, the reference generator's weights
    (`resolve_generator`).
    """
    from catalogs.input import read_catalog
    from catalogs.output import OutputCatalog

    config = check_run_config(method, iterations, overrides)
    try:
        output_catalog = OutputCatalog(output, storage_options=storage_options)
    except CatalogError as exc:
        raise PreflightError(str(exc)) from exc
    check_output_root(output_catalog)
    try:
        read_catalog(catalog, storage_options=storage_options)
    except CatalogError as exc:
        raise PreflightError(str(exc)) from exc
    choice = resolve_prior(prior)
    resolve_generator(config)
    return choice


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
