"""An input catalog made from a folder of SVGs and their prompts (``flexiclip catalog init``).

Each ``*.svg`` file of the folder (not recursive) becomes one row. Its prompt comes from the
prompts table (CSV with a header, or JSON lines) whose ``file`` (or ``clip_id``) column names
the file, else from a sidecar ``NAME.txt`` next to it. The clip id is derived from the file
name: accents dropped, runs of other characters outside ``[A-Za-z0-9_.-]`` turned into ``-``,
trimmed to a letter or digit at the start, 128 characters at most. Every row then goes through
the input catalog's own validation (`catalogs.input.validate_table`); a file that cannot become
a valid row is listed with one reason and left out, the others still make the catalog.

A reference video for the ``video-fit`` method is found the way a sidecar prompt is: a file
``NAME.mp4`` (or another `REFERENCE_SUFFIXES` suffix, first in that order) or a folder ``NAME/``
holding PNG frames next to ``NAME.svg`` becomes the row's ``reference_video`` (such a file is
not listed as skipped); the row's method decides whether it is used (docs/pipeline.md §2).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogs.errors import CatalogError
from catalogs.input import CLIP_ID_PATTERN, validate_table
from catalogs.text_tables import read_text_table

CATALOG_SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".jsonl")
"""Formats `write_catalog` can write, chosen by the output's suffix."""
SIDECAR_SUFFIX = ".txt"
"""A prompt file next to an SVG: ``cat.svg`` → ``cat.txt``."""
_SNIFF_BYTES = 4096
_CLIP_ID = re.compile(CLIP_ID_PATTERN)


@dataclass(frozen=True)
class SkippedFile:
    """A file of the folder that did not become a row."""

    name: str
    """File name inside the folder."""
    reason: str
    """Why, in one line."""


REFERENCE_SUFFIXES: tuple[str, ...] = (".mp4", ".webm", ".mov", ".m4v", ".mkv", ".gif", ".webp")
"""Suffixes of a reference video beside an SVG (``cat.svg`` → ``cat.mp4``), in the order looked for."""

FOLDER_COLUMNS: tuple[str, ...] = (
    "clip_id",
    "svg_uri",
    "prompt",
    "negative_prompt",
    "licence",
    "attribution",
    "reference_video",
)
"""The columns `catalog init` writes (all text)."""


@dataclass
class FolderCatalog:
    """The rows made from a folder and the files left out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    """Input-catalog rows (``clip_id``, ``svg_uri``, ``prompt``, optional ``negative_prompt``),
    every one valid for `catalogs.input.validate_table`."""
    skipped: list[SkippedFile] = field(default_factory=list)
    """One entry per file left out, in file-name order."""


def clip_id_from_file_name(name: str) -> str | None:
    """A clip id made from the file name's stem, or None when it has no letter or digit to keep."""
    stem = Path(name).stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    candidate = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_stem)
    candidate = re.sub(r"^[^A-Za-z0-9]+", "", candidate)[:128].rstrip("-.")
    return candidate if candidate and _CLIP_ID.fullmatch(candidate) else None


def read_prompts(path: Path) -> dict[str, dict[str, str | None]]:
    """Prompts by file name and by clip id from a CSV/JSONL table with a ``prompt`` column and a
    ``file`` or ``clip_id`` column (optional ``negative_prompt``, ``licence``, ``attribution``);
    `CatalogError` on a bad table."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CatalogError(f"prompts file {str(path)!r}: {error.strerror or error}") from None
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise CatalogError(f"prompts file {str(path)!r}: expected a .csv or .jsonl file")
    table = read_text_table(data, str(path))
    keys = [name for name in ("file", "clip_id") if name in table.column_names]
    if "prompt" not in table.column_names or not keys:
        raise CatalogError(
            f"prompts file {str(path)!r}: needs a 'prompt' column and a 'file' or 'clip_id' column "
            f"(has: {', '.join(table.column_names) or 'none'})"
        )
    records = table.to_pylist()
    prompts: dict[str, dict[str, str | None]] = {}
    for record in records:
        entry = {name: record.get(name) for name in ("prompt", "negative_prompt", "licence", "attribution")}
        for key in keys:
            if record.get(key):
                prompts.setdefault(f"{key}:{record[key]}", entry)
    return prompts


def _looks_like_svg(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return b"<svg" in head.lower()


def _prompt_for(path: Path, clip_id: str, prompts: dict[str, dict[str, str | None]]) -> dict[str, str | None] | None:
    for key in (f"file:{path.name}", f"file:{path.stem}", f"clip_id:{clip_id}"):
        if key in prompts and prompts[key]["prompt"]:
            return prompts[key]
    sidecar = path.with_suffix(SIDECAR_SUFFIX)
    if sidecar.is_file():
        text = sidecar.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return {"prompt": text, "negative_prompt": None}
    return None


def _reference_beside(path: Path) -> Path | None:
    """The reference video next to the SVG at ``path`` (a `REFERENCE_SUFFIXES` file, else a folder
    of the same stem holding PNG frames), or None."""
    for suffix in REFERENCE_SUFFIXES:
        for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    folder = path.with_suffix("")
    if folder.is_dir() and any(child.suffix.lower() == ".png" for child in folder.iterdir()):
        return folder
    return None


def _svg_uri(path: Path, catalog_dir: Path) -> str:
    """Relative to the catalog's folder when the SVG is inside it (the pair moves together), else
    absolute (the catalog refuses relative paths that leave its folder)."""
    resolved = path.resolve()
    if resolved.is_relative_to(catalog_dir):
        return resolved.relative_to(catalog_dir).as_posix()
    return str(resolved)


def catalog_from_folder(
    folder: Path,
    out: Path,
    prompts_file: Path | None = None,
    *,
    licence: str | None = None,
    attribution: str | None = None,
) -> FolderCatalog:
    """The catalog rows for the SVGs of ``folder`` (``svg_uri`` as `_svg_uri` makes it for a
    catalog written at ``out``); `CatalogError` when the folder or the prompts table cannot be read.
    ``licence`` and ``attribution`` are the artwork's, for every row that the prompts table does
    not give its own."""
    import pyarrow as pa

    if not folder.is_dir():
        raise CatalogError(f"folder {str(folder)!r} does not exist or is not a folder")
    prompts = read_prompts(prompts_file) if prompts_file is not None else {}
    catalog_dir = out.resolve().parent
    result = FolderCatalog()
    candidates: list[dict[str, Any]] = []
    names: list[str] = []
    used: dict[str, str] = {}
    claimed: set[str] = set()  # reference videos of an SVG: not "skipped"
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.is_dir() or path.suffix.lower() == SIDECAR_SUFFIX or path.resolve() == out.resolve():
            continue
        if prompts_file is not None and path.resolve() == prompts_file.resolve():
            continue
        if path.suffix.lower() != ".svg":
            result.skipped.append(SkippedFile(path.name, f"not an SVG file (extension {path.suffix or 'none'})"))
            continue
        if not _looks_like_svg(path):
            result.skipped.append(SkippedFile(path.name, "named .svg but has no <svg> element in its first 4 KiB"))
            continue
        clip_id = clip_id_from_file_name(path.name)
        if clip_id is None:
            result.skipped.append(SkippedFile(path.name, "the file name has no letter or digit to make a clip id from"))
            continue
        if clip_id in used:
            result.skipped.append(SkippedFile(path.name, f"clip id {clip_id!r} is already taken by {used[clip_id]}"))
            continue
        prompt = _prompt_for(path, clip_id, prompts)
        if prompt is None:
            where = f"not in {prompts_file.name} and " if prompts_file is not None else ""
            result.skipped.append(
                SkippedFile(path.name, f"no prompt ({where}no {path.stem}{SIDECAR_SUFFIX} beside it)")
            )
            continue
        used[clip_id] = path.name
        reference = _reference_beside(path)
        if reference is not None:
            claimed.add(reference.name)
        candidates.append(
            {
                "clip_id": clip_id,
                "svg_uri": _svg_uri(path, catalog_dir),
                "prompt": prompt["prompt"],
                "negative_prompt": prompt["negative_prompt"],
                "licence": prompt.get("licence") or licence,
                "attribution": prompt.get("attribution") or attribution,
                "reference_video": None if reference is None else _svg_uri(reference, catalog_dir),
            }
        )
        names.append(path.name)
    # The rows go through the catalog's own validation, so whatever is written, `run` accepts.
    table = pa.Table.from_pylist(candidates, schema=pa.schema([(n, pa.string()) for n in FOLDER_COLUMNS]))
    rows, errors = validate_table(table, base=str(catalog_dir), source=str(folder))
    invalid = {error.row_index: error for error in errors}
    for index, (candidate, name) in enumerate(zip(candidates, names)):
        if index in invalid:
            reason = invalid[index].message.split(": ", 1)[-1]
            result.skipped.append(SkippedFile(name, reason))
        else:
            result.rows.append(candidate)
    result.skipped = [skipped for skipped in result.skipped if skipped.name not in claimed]
    result.skipped.sort(key=lambda skipped: skipped.name)
    return result


def write_catalog(rows: list[dict[str, Any]], out: Path) -> Path:
    """Write ``rows`` as Parquet, CSV or JSON lines by ``out``'s suffix (atomically)."""
    import csv
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from flexiclip_core.export.files import atomic_write

    suffix = out.suffix.lower()
    if suffix not in CATALOG_SUFFIXES:
        raise CatalogError(
            f"catalog {str(out)!r}: unknown format {suffix or '(no suffix)'}; use {', '.join(CATALOG_SUFFIXES)}"
        )
    columns = FOLDER_COLUMNS

    def write(temporary: Path) -> None:
        if suffix == ".parquet":
            pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in columns])), temporary)
        elif suffix == ".csv":
            buffer = io.StringIO(newline="")
            writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({c: row.get(c) or "" for c in columns} for row in rows)
            temporary.write_text(buffer.getvalue(), encoding="utf-8")
        else:
            temporary.write_text(
                "".join(json.dumps({c: row.get(c) for c in columns}) + "\n" for row in rows), encoding="utf-8"
            )

    return atomic_write(out, write)
