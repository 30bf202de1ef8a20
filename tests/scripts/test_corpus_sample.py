"""scripts/corpus_sample.py and the sample it committed (tests/data/corpus_sample.txt): the list
`make test` runs the corpus tests on is what the script chooses, and it covers every category
and every feature class the whole folders have."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from types import ModuleType

import pytest

from tests.conftest import CORPUS_SAMPLE, REPO_ROOT, corpus_sample_files, openclipart_root


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_sample", REPO_ROOT / "scripts" / "corpus_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("corpus_sample", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script()


@pytest.fixture(scope="module")
def scanned(script: ModuleType) -> list:
    return script.scan(openclipart_root())


def test_choose_fills_each_stratum_counting_files_already_chosen(script: ModuleType) -> None:
    make = script.CorpusFile
    files = [
        make("people/a.svg", 10, 5, frozenset({"text", "clip-path"})),
        make("people/b.svg", 900, 2, frozenset({"clip-path"})),
        make("animals/c.svg", 20, 50, frozenset()),
        make("animals/d.svg", 30, 1, frozenset({"text"})),
    ]
    chosen = script.choose(files)
    assert list(chosen) == sorted(chosen)
    # One per category first; every feature then has its PER_FEATURE files or all it has.
    assert {name.rpartition("/")[0] for name in chosen} == {"people", "animals"}
    for feature in ("text", "clip-path"):
        members = [f.relative for f in files if feature in f.features]
        assert sum(feature in why for name, why in chosen.items() if name in members) == min(
            len(members), script.PER_FEATURE
        )
    assert "largest" in chosen["people/b.svg"] and "most-elements" in chosen["animals/c.svg"]
    assert set(chosen) == {f.relative for f in files}  # LARGEST ≥ 1 and 4 files: all of them


def test_committed_sample_is_what_the_script_chooses(script: ModuleType, scanned: list) -> None:
    files = scanned
    expected = script.render(script.choose(files), files)
    assert CORPUS_SAMPLE.read_text(encoding="utf-8") == expected, "rerun scripts/corpus_sample.py"


def test_sample_covers_every_category_and_feature_class(script: ModuleType, scanned: list) -> None:
    files = scanned
    sample = {path.relative_to(openclipart_root()).as_posix() for path in corpus_sample_files()}
    assert all((openclipart_root() / name).is_file() for name in sample)
    assert {f.category for f in files} == {f.category for f in files if f.relative in sample}
    in_corpus = Counter(feature for f in files for feature in f.features)
    in_sample = Counter(feature for f in files if f.relative in sample for feature in f.features)
    short = {k: (in_sample[k], n) for k, n in in_corpus.items() if in_sample[k] < min(n, script.PER_FEATURE)}
    assert not short, f"feature classes under-sampled (sample, corpus): {short}"
    for wanted in ("linear-gradient", "radial-gradient", "clip-path", "symbol", "stroke", "text", "pattern"):
        assert in_sample[wanted] >= 1, wanted
    largest = sorted(files, key=lambda f: -f.size_bytes)[: script.LARGEST]
    assert {f.relative for f in largest} <= sample
    assert len(sample) < len(files) / 10, "a sample, not the corpus"
