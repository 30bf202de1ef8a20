"""Build the bundled sample catalog ``catalogs/samples/clipart.parquet`` from ``samples.json``.

    python catalogs/build_sample_catalog.py            # rewrite the committed file
    python catalogs/build_sample_catalog.py OUT.parquet

Column types are what `catalogs.input.read_catalog` expects: ``svg_uri`` relative to the
catalog's folder, ``keypoints`` list<struct<x, y>> in SVG user units, ``skeleton``
list<list<int64>>, ``layers`` and ``config`` as JSON text, ``tags`` list<string>.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
SAMPLES_JSON = SAMPLES_DIR / "samples.json"
SAMPLE_CATALOG = SAMPLES_DIR / "clipart.parquet"

SAMPLE_CATALOG_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("svg_uri", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("keypoints", pa.list_(pa.struct([("x", pa.float64()), ("y", pa.float64())]))),
        pa.field("skeleton", pa.list_(pa.list_(pa.int64()))),
        pa.field("layers", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("negative_prompt", pa.string()),
        pa.field("config", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("licence", pa.string()),
        pa.field("attribution", pa.string()),
    ]
)
"""Schema of the sample catalog (the optional columns are all present, null where unused)."""


SAMPLE_LICENCE = "Apache-2.0"
"""The samples were drawn for this project (catalogs/samples/README.md): the repository's licence."""
SAMPLE_ATTRIBUTION = "flexiclip sample clipart (catalogs/samples, drawn for the project)"


def sample_rows(entries: list[dict]) -> list[dict]:
    """samples.json entries → catalog rows (one per entry, same order)."""
    rows = []
    for entry in entries:
        keypoints = entry.get("keypoints")
        layers = entry.get("layers")
        tags = ["sample"]
        if keypoints is not None:
            tags.append("human-rig" if len(keypoints) == 13 else "manual-rig")
        else:
            tags.append("auto-rig")
        if layers is not None:
            tags.append("layers")
        rows.append(
            {
                "clip_id": entry["clip_id"],
                "svg_uri": entry["svg"],
                "prompt": entry["prompt"],
                "keypoints": None if keypoints is None else [{"x": float(x), "y": float(y)} for x, y in keypoints],
                "skeleton": None if entry.get("skeleton") is None else [[int(i), int(j)] for i, j in entry["skeleton"]],
                "layers": None if layers is None else json.dumps(layers, separators=(",", ":"), sort_keys=True),
                "seed": entry.get("seed"),
                "negative_prompt": entry.get("negative_prompt"),
                "config": None if entry.get("config") is None else json.dumps(entry["config"], sort_keys=True),
                "tags": tags,
                "licence": SAMPLE_LICENCE,
                "attribution": SAMPLE_ATTRIBUTION,
            }
        )
    return rows


def build_sample_table(samples_json: Path = SAMPLES_JSON) -> pa.Table:
    """The sample catalog as a pyarrow table with `SAMPLE_CATALOG_SCHEMA`."""
    entries = json.loads(Path(samples_json).read_text(encoding="utf-8"))
    return pa.Table.from_pylist(sample_rows(entries), schema=SAMPLE_CATALOG_SCHEMA)


def write_sample_catalog(out: Path = SAMPLE_CATALOG, samples_json: Path = SAMPLES_JSON) -> Path:
    """Write the sample catalog to ``out`` (atomically) and return ``out``."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(build_sample_table(samples_json), tmp, compression="zstd")
    tmp.replace(out)
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else SAMPLE_CATALOG
    write_sample_catalog(out)
    sys.stdout.write(f"wrote {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
