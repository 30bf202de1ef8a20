"""The benchmark set catalogs/benchmark/: a valid input catalog, made by its written rule."""

from __future__ import annotations

import hashlib
import io
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from catalogs.input import read_catalog
from tests.conftest import REPO_ROOT, openclipart_root

BENCHMARK = REPO_ROOT / "catalogs" / "benchmark"


def test_the_benchmark_is_a_valid_catalog_of_48_to_60_public_domain_drawings_with_1_to_3_prompts():
    rows, errors = read_catalog(str(BENCHMARK / "benchmark.parquet"))
    assert errors == []
    table = pq.read_table(BENCHMARK / "benchmark.parquet").to_pylist()
    drawings = Counter(row["source_file"] for row in table)
    assert 48 <= len(drawings) <= 60
    assert all(1 <= prompts <= 3 for prompts in drawings.values())
    assert Counter(row["category"] for row in table) == {"human": 26, "animal": 26, "object": 26, "scene": 26}
    assert {row["licence"] for row in table} == {"public-domain"}
    assert all(row["source_file"].startswith("usr/share/openclipart/svg/") for row in table)
    assert len({row.clip_id for row in rows}) == len(rows)
    for row in table:
        assert (BENCHMARK / row["svg_uri"]).is_file(), row["svg_uri"]
        assert f"category:{row['category']}" in row["tags"]


def test_the_shipped_drawings_are_the_corpus_files_unchanged():
    root = openclipart_root()
    table = pq.read_table(BENCHMARK / "benchmark.parquet").to_pylist()
    for row in table:
        source = root.parents[3] / row["source_file"]
        shipped = BENCHMARK / row["svg_uri"]
        assert hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256(shipped.read_bytes()).digest()


@pytest.mark.slow
@pytest.mark.corpus_full  # walks the whole corpus: make test-full
def test_the_selection_rule_applied_to_the_corpus_gives_the_shipped_catalog(tmp_path: Path):
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import select_benchmark

    corpus = openclipart_root().parents[3]
    entries = select_benchmark.select(corpus, log=io.StringIO())
    select_benchmark.write_benchmark(entries, tmp_path)
    assert (
        pq.read_table(tmp_path / "benchmark.parquet").to_pylist()
        == pq.read_table(BENCHMARK / "benchmark.parquet").to_pylist()
    )
