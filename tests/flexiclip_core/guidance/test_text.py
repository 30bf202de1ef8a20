"""The prompt-embedding cache (flexiclip_core/guidance/text.py): bounded memory, disk by content."""

from __future__ import annotations

import torch

from flexiclip_core.guidance.text import TextEmbeddingCache


def _embedding(value: float) -> torch.Tensor:
    return torch.full((3, 4), value)


def test_memory_keeps_only_the_most_recently_used_embeddings() -> None:
    cache = TextEmbeddingCache(None, memory_entries=2)
    for index, key in enumerate("abc"):
        cache.save(key, _embedding(index))
    assert list(cache.memory) == ["b", "c"]
    assert cache.load("a") is None  # no folder: evicted means gone
    assert torch.equal(cache.load("b"), _embedding(1))  # a hit makes it the most recent
    cache.save("d", _embedding(3))
    assert list(cache.memory) == ["b", "d"]


def test_disk_keeps_what_memory_evicts_and_stores_float32(tmp_path) -> None:
    cache = TextEmbeddingCache(tmp_path, memory_entries=1)
    cache.save("a", _embedding(1).to(torch.bfloat16))
    cache.save("b", _embedding(2))
    assert list(cache.memory) == ["b"]
    loaded = cache.load("a")
    assert loaded.dtype == torch.float32 and torch.equal(loaded, _embedding(1))
    assert list(cache.memory) == ["a"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.pt", "b.pt"]  # no temporary left


def test_modelscope_loads_its_clip_text_encoder_only_for_uncached_prompts(tmp_path, monkeypatch) -> None:
    """ModelScope's CLIP is loaded lazily and its embeddings persist on disk: a second process
    (a worker, `flexiclip animate`) with the same prompts never loads it."""
    from flexiclip_core.guidance import ModelScopePrior, ModelScopePriorConfig, save_tiny_pipeline

    monkeypatch.setenv("FLEXICLIP_CACHE", str(tmp_path / "cache"))
    folder = save_tiny_pipeline(tmp_path / "ms")
    first = ModelScopePrior(ModelScopePriorConfig(path=str(folder)), device="cpu")
    assert first.prompt_encoder.loads == 0  # loading the prior does not load CLIP
    embeddings = first.encode_text(["a cat dancing"])
    assert first.prompt_encoder.loads == 1
    second = ModelScopePrior(ModelScopePriorConfig(path=str(folder)), device="cpu")
    again = second.encode_text(["a cat dancing"])
    assert second.prompt_encoder.loads == 0
    torch.testing.assert_close(again.conditional, embeddings.conditional)
    torch.testing.assert_close(again.unconditional, embeddings.unconditional)


def test_the_drivers_tiny_text_encoder_is_the_tiny_priors_own_for_its_seed() -> None:
    """The driver encodes a run's prompts with the tiny prior's text encoder built alone (not the
    UNet and VAE it would discard): the same weights as the prior's for the spec's seed, and
    the seed's own weights (seed + 2, pinned here from the build before this split)."""
    from flexiclip_core.guidance.text import load_prompt_encoder
    from flexiclip_core.guidance.tiny import TinyPriorConfig, build_tiny_components

    alone = load_prompt_encoder("tiny:7", "cpu").load().state_dict()
    prior = build_tiny_components(TinyPriorConfig(seed=7))["text_encoder"].state_dict()
    assert list(alone) == list(prior) and all(torch.equal(alone[name], prior[name]) for name in prior)
    default = load_prompt_encoder("tiny", "cpu").load().state_dict()["embeddings.token_embedding.weight"]
    expected = torch.tensor([0.020370537415146828, -0.015278112143278122, -0.017247505486011505, 0.005868723150342703])
    torch.testing.assert_close(default[5, :4], expected, rtol=0, atol=1e-7)
    assert not torch.equal(alone["embeddings.token_embedding.weight"], default)


CACHED_DRIVER = r"""
import json, sys
from flexiclip_core.guidance.text import encode_run_prompts, load_prompt_encoder
from pathlib import Path
bank = encode_run_prompts("tiny", ["a cat dancing", ""], device="cpu", cache_folder=Path(sys.argv[1]))
print(json.dumps({
    "transformers": "transformers" in sys.modules,
    "key": load_prompt_encoder("tiny", "cpu").key("a cat dancing"),
    "first": bank.embeddings["a cat dancing"][3, :3].tolist(),
}))
"""


def test_a_driver_whose_prompts_are_cached_imports_no_transformers(tmp_path) -> None:
    """The tiny prompt encoder builds its tokenizer and model on the first uncached prompt only:
    a second run's driver (a fresh process) with the same prompts finds them on disk and never
    imports transformers, and its cache key is the one the built tokenizer gave (77 tokens)."""
    import hashlib
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", CACHED_DRIVER, str(tmp_path / "cache")],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["transformers"] and not second["transformers"]
    assert second["first"] == first["first"]
    # The key by hand: the cache file names of earlier runs stay valid.
    text = '{"dtype": "float32", "max_tokens": 77, "model": "tiny-random(seed=0)", "prompt": "a cat dancing"}'
    assert first["key"] == second["key"] == hashlib.sha256(text.encode()).hexdigest()
