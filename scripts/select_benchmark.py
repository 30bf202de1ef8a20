"""Select the benchmark set ``catalogs/benchmark/`` from the openclipart corpus by a written rule.

    python scripts/select_benchmark.py [--corpus .cache/openclipart] [--out catalogs/benchmark]

THE RULE (catalogs/benchmark/README.md repeats it). Nothing in it looks at how a drawing animates.
1. Order every SVG of Debian's openclipart-svg package by sha256("openclipart:" + its path under
   ``usr/share/openclipart/svg``): a fixed shuffle nobody chose.
2. Walk that order and keep a file when
   - it is at most 100 KB (the repository ships the files), and
   - the pipeline can take it: it parses, renders, gets the automatic rig, a mesh and a binding
     (the corpus sweep's ``--stage rig`` check, `scripts/corpus_sweep.py`), within 60 s.
3. Its category: ``scene`` when it comes from a folder below and its rest render (256², alpha > ½,
   8-connected) has at least two separate parts each holding at least 15% of the painted pixels;
   otherwise by its folder: ``people`` (but not ``bodypart``, ``smilies``, ``clothing``) →
   ``human``, ``animals`` → ``animal``, ``plants``/``food``/``tools``/``containers`` → ``object``;
   ``recreation`` only supplies scenes; every other folder is left out.
4. Take the first 13 of each category (52 drawings).
5. Prompts: two per drawing, from its category's caption templates (the papers' style, e.g. "a
   person waving both arms"), starting at the drawing's rank in its category so the templates
   rotate. The subject is the category's noun (person, animal, plant or object, group), not
   the file name: openclipart names are often an author's or in another language.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_SVG = Path("usr/share/openclipart/svg")
PER_CATEGORY = 13
MAX_BYTES = 100_000
TIMEOUT_S = 60
SCENE_PART_SHARE = 0.15
LICENCE = "public-domain"
LICENCE_NOTE = (
    "Openclipart, Creative Commons Public Domain Dedication (Debian package openclipart-svg, "
    "usr/share/doc/openclipart-svg/copyright)"
)
EXCLUDED_FOLDERS = {("people", "bodypart"), ("people", "smilies"), ("people", "clothing")}
"""Sub-folders of ``people`` that hold no whole figure."""
SCENE_ONLY_FOLDERS = {"recreation"}
FOLDER_CATEGORY = {
    "people": "human",
    "animals": "animal",
    "plants": "object",
    "food": "object",
    "tools": "object",
    "containers": "object",
}
CATEGORIES = ("human", "animal", "object", "scene")
TEMPLATES = {
    "human": (
        "a person waving both arms",
        "a person dancing happily",
        "a person jumping up and down",
        "a person walking forward",
    ),
    "animal": (
        "an animal walking forward",
        "an animal shaking its head",
        "an animal jumping playfully",
        "an animal wagging its tail",
    ),
    "object": (
        "{a_name} swaying gently in the wind",
        "{a_name} bouncing up and down",
        "{a_name} wobbling from side to side",
    ),
    "scene": (
        "the figures moving together",
        "everyone in the picture waving",
        "the characters dancing side by side",
    ),
}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def ordered_files(corpus: Path) -> list[Path]:
    """Rule step 1: every SVG under the corpus, in sha256 order of its corpus path."""
    root = corpus / CORPUS_SVG
    files = [path for path in root.rglob("*.svg") if path.is_file()]
    return sorted(files, key=lambda path: hashlib.sha256(f"openclipart:{path.relative_to(root)}".encode()).hexdigest())


def is_scene(alpha: np.ndarray) -> bool:
    """Rule step 3: at least two 8-connected parts, each ≥ 15% of the painted pixels."""
    from scipy.ndimage import label

    painted = alpha > 127
    total = int(painted.sum())
    if total == 0:
        return False
    labels, count = label(painted, structure=np.ones((3, 3), dtype=int))
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= SCENE_PART_SHARE * total).sum()) >= 2


def _timeout(signum, frame):
    raise TimeoutError(f"over {TIMEOUT_S} s")


def examine(path: Path) -> tuple[bool, np.ndarray | None, str]:
    """Rule step 2: (usable, rest alpha, why not) — parse, render, rig, mesh, bind."""
    from flexiclip_core.binding import bind_points
    from flexiclip_core.mesh import build_mesh
    from flexiclip_core.render import render_clipart
    from flexiclip_core.rig import auto_rig
    from flexiclip_core.svg import parse_svg

    if path.stat().st_size > MAX_BYTES:
        return False, None, "over 100 KB"
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TIMEOUT_S)
    try:
        clipart = parse_svg(path)
        alpha = render_clipart(clipart, size=256, background="transparent")[..., 3]
        rig = auto_rig(clipart)
        mesh = build_mesh(clipart, rig)
        bind_points(mesh, clipart, rig)
    except Exception as error:  # noqa: BLE001 - any failure only makes the file ineligible
        return False, None, f"{type(error).__name__}: {error}"
    finally:
        signal.alarm(0)
    return True, alpha, ""


def subject(relative: str) -> str:
    """The ``{a_name}`` of the object templates (rule step 5): a plant, or an object."""
    return "a plant" if relative.startswith("plants/") else "an object"


def select(corpus: Path, log=sys.stderr) -> list[dict]:
    """The chosen drawings: dicts with path, category, rank; rule steps 1–4."""
    chosen: dict[str, list[dict]] = {category: [] for category in CATEGORIES}
    root = corpus / CORPUS_SVG
    for path in ordered_files(corpus):
        if all(len(chosen[c]) >= PER_CATEGORY for c in CATEGORIES):
            break
        relative = path.relative_to(root)
        if tuple(relative.parts[:2]) in EXCLUDED_FOLDERS:
            continue
        folder_category = FOLDER_CATEGORY.get(relative.parts[0])
        if folder_category is None and relative.parts[0] not in SCENE_ONLY_FOLDERS:
            continue
        wanted = {c for c in CATEGORIES if len(chosen[c]) < PER_CATEGORY}
        if "scene" not in wanted and folder_category not in wanted:
            continue
        usable, alpha, why = examine(path)
        if not usable:
            log.write(f"skip {relative}: {why}\n")
            continue
        category = "scene" if is_scene(alpha) else folder_category
        if category is None or category not in wanted:
            continue
        chosen[category].append(
            {"path": path, "relative": str(relative), "category": category, "rank": len(chosen[category])}
        )
        log.write(f"take {relative} as {category}\n")
    return [entry for category in CATEGORIES for entry in chosen[category]]


def catalog_rows(entries: list[dict], svg_folder: str = "svg") -> list[dict]:
    """Two prompts per drawing (rule step 5): catalog rows for `flexiclip run`."""
    rows = []
    for entry in entries:
        category, rank, path = entry["category"], entry["rank"], entry["path"]
        templates = TEMPLATES[category]
        stem = _SAFE.sub("_", path.stem)[:60]
        for k in range(2):
            prompt = templates[(rank + k) % len(templates)].format(a_name=subject(entry["relative"]))
            rows.append(
                {
                    "clip_id": f"{category}-{rank:02d}-{stem}-p{k + 1}",
                    "svg_uri": f"{svg_folder}/{category}-{rank:02d}-{path.name}",
                    "prompt": prompt,
                    "seed": 0,
                    "tags": ["benchmark", f"category:{category}", "openclipart"],
                    "category": category,
                    "source_file": str(CORPUS_SVG / entry["relative"]),
                    "source_package": "openclipart-svg 1:0.18+dfsg-19 (Debian)",
                    "licence": LICENCE,
                    "licence_note": LICENCE_NOTE,
                }
            )
    return rows


CATALOG_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("svg_uri", pa.string()),
        ("prompt", pa.string()),
        ("seed", pa.int64()),
        ("tags", pa.list_(pa.string())),
        ("category", pa.string()),
        ("source_file", pa.string()),
        ("source_package", pa.string()),
        ("licence", pa.string()),
        ("licence_note", pa.string()),
    ]
)


def write_benchmark(entries: list[dict], out: Path) -> Path:
    """Copy the chosen SVGs into ``out/svg`` and write ``out/benchmark.parquet`` (+ a JSON listing)."""
    svg_dir = out / "svg"
    if svg_dir.exists():
        shutil.rmtree(svg_dir)
    svg_dir.mkdir(parents=True)
    for entry in entries:
        shutil.copyfile(entry["path"], svg_dir / f"{entry['category']}-{entry['rank']:02d}-{entry['path'].name}")
    rows = catalog_rows(entries)
    pq.write_table(pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA), out / "benchmark.parquet", compression="zstd")
    (out / "benchmark.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return out / "benchmark.parquet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO_ROOT / ".cache" / "openclipart")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "catalogs" / "benchmark")
    args = parser.parse_args(argv)
    if not (args.corpus / CORPUS_SVG).is_dir():
        sys.stderr.write(f"no openclipart corpus at {args.corpus} (scripts/fetch_openclipart.sh fetches it)\n")
        return 2
    entries = select(args.corpus)
    counts = {c: sum(1 for e in entries if e["category"] == c) for c in CATEGORIES}
    path = write_benchmark(entries, args.out)
    sys.stdout.write(f"wrote {path}: {len(entries)} drawings {counts}\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
