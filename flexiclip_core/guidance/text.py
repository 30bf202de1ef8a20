"""Prompt embeddings: a prior's text encoder on its own, a content-keyed cache, and a run's bank.

A prior's text encoder can be larger than its denoiser (Wan's UMT5-XXL, about 5.7 B parameters),
so text is encoded apart from the video model (docs/priors.md, "Text: once per run"):

- `PromptEncoder`: the text half of a prior, loaded only when a prompt has to be encoded and
  released afterwards; `PROMPT_ENCODERS` builds one from a prior spec without the denoiser, so
  a run's driver can encode every prompt once before any worker starts;
- `TextEmbeddingCache`: embeddings by content — the key is (text model fingerprint, prompt,
  token budget, encoder dtype) — in memory and, when given a folder, on disk; a file that does
  not load is re-encoded and replaced, never a crash;
- `PromptBank`: a run's embeddings (prompt → tensor) for one text model, handed to every worker
  through Ray's object store; a worker whose prompts are all in it never loads its encoder.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
import pickle
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from flexiclip_core.registry import Registry

log = logging.getLogger(__name__)

ENCODE_BATCH = 8
"""Prompts per text-encoder call (bounds the activations of a 512-token UMT5-XXL batch)."""
MEMORY_ENTRIES = 256
"""Embeddings a cache keeps in memory (Wan: about 0.3 MB each for a 20-token prompt)."""


class PromptEncoder(abc.ABC):
    """The text encoder of one prior, apart from its video model.

    ``model_key`` names the text model by content (weights' origin and fingerprint), ``dtype`` is
    what it runs in; both, with the token budget, key its embeddings. Loads lazily, counts its
    loads (``loads``) and frees the model on `release`.
    """

    model_key: str
    max_tokens: int
    dtype: torch.dtype
    device: torch.device
    loads: int = 0

    @abc.abstractmethod
    def embed(self, prompts: list[str]) -> list[Tensor]:
        """Each prompt's embedding [L_i, D] (float32, CPU), L_i ≤ ``max_tokens``; loads the model."""

    @abc.abstractmethod
    def release(self) -> None:
        """Free the model (it is loaded again by the next `embed`)."""

    def clean(self, prompt: str) -> str:
        """The prompt as the model's pipeline feeds it to the tokenizer (identity by default)."""
        return prompt

    def key(self, prompt: str) -> str:
        """Content key of ``prompt``'s embedding: model, cleaned prompt, token budget and dtype."""
        text = json.dumps(
            {
                "model": self.model_key,
                "prompt": self.clean(prompt),
                "max_tokens": self.max_tokens,
                "dtype": str(self.dtype).removeprefix("torch."),
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()


PromptEncoderFactory = Callable[[str | None, torch.device | None], PromptEncoder]
"""Builds a prior's `PromptEncoder` from the argument of its spec (``NAME:ARGUMENT``) and a device."""

PROMPT_ENCODERS: Registry[PromptEncoderFactory] = Registry("prompt encoder")
"""Text encoders by prior name (the prior's own spec), filled when `flexiclip_core.guidance` is imported."""


def load_prompt_encoder(spec: str, device: torch.device | str | None = None) -> PromptEncoder:
    """The text encoder of the prior named by ``spec``, without the prior's video model."""
    name, _, argument = spec.partition(":")
    factory = PROMPT_ENCODERS.get(name.strip())
    return factory(argument or None, torch.device(device) if device is not None else None)


class TextEmbeddingCache:
    """Embeddings by `PromptEncoder.key`: in memory, and on disk under ``folder`` when given.

    Files hold float32 [L, D] tensors and are written atomically (parallel workers never read a
    partial file); a file that does not load (torn, foreign, wrong shape) is logged, removed and
    treated as a miss, so it is re-encoded.
    """

    def __init__(self, folder: Path | None, memory_entries: int = MEMORY_ENTRIES) -> None:
        self.folder = folder
        self.memory_entries = memory_entries
        self.memory: OrderedDict[str, Tensor] = OrderedDict()
        """The most recently used embeddings (at most ``memory_entries``): a worker's memory does
        not grow with the length of the run."""

    def remember(self, key: str, embedding: Tensor) -> Tensor:
        """Keep ``embedding`` in memory (float32, CPU), dropping the least recently used past the cap."""
        embedding = embedding.detach().float().cpu().contiguous()
        self.memory[key] = embedding
        self.memory.move_to_end(key)
        while len(self.memory) > self.memory_entries:
            self.memory.popitem(last=False)
        return embedding

    def path(self, key: str) -> Path | None:
        return self.folder / f"{key}.pt" if self.folder is not None else None

    def load(self, key: str) -> Tensor | None:
        if key in self.memory:
            self.memory.move_to_end(key)
            return self.memory[key]
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            embedding = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(embedding, Tensor) or embedding.dim() != 2:
                raise ValueError(f"not an [L, D] tensor: {type(embedding).__name__}")
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:  # torn or foreign
            log.warning("re-encoding the unreadable cached text embedding %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        return self.remember(key, embedding)

    def save(self, key: str, embedding: Tensor) -> Tensor:
        """Remember ``embedding`` and write it to disk (when the cache has a folder); returns it."""
        embedding = self.remember(key, embedding)
        path = self.path(key)
        if path is None:
            return embedding
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        try:
            torch.save(embedding, temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return embedding


@dataclass
class PromptBank:
    """A run's prompt embeddings for one text model: what the driver hands every worker."""

    model_key: str
    """`PromptEncoder.model_key` of the model that made them."""
    embeddings: dict[str, Tensor] = field(default_factory=dict)
    """Prompt (as written in the catalog) → [L, D] float32 on the CPU."""

    def nbytes(self) -> int:
        return sum(tensor.numel() * tensor.element_size() for tensor in self.embeddings.values())


def embed_prompts(
    encoder: PromptEncoder, cache: TextEmbeddingCache, prompts: Iterable[str], *, release: bool = True
) -> dict[str, Tensor]:
    """Each distinct prompt's embedding, encoding only the cache's misses, in batches of
    `ENCODE_BATCH`; the encoder is released afterwards unless ``release`` is False."""
    found: dict[str, Tensor | None] = {}
    keys: dict[str, str] = {}
    for prompt in dict.fromkeys(prompts):
        keys[prompt] = encoder.key(prompt)
        found[prompt] = cache.load(keys[prompt])
    missing = [prompt for prompt, embedding in found.items() if embedding is None]
    try:
        for start in range(0, len(missing), ENCODE_BATCH):
            chunk = missing[start : start + ENCODE_BATCH]
            for prompt, embedding in zip(chunk, encoder.embed(chunk)):
                found[prompt] = cache.save(keys[prompt], embedding)
    finally:
        if missing and release:
            encoder.release()
    return {prompt: embedding for prompt, embedding in found.items() if embedding is not None}


def encode_run_prompts(
    spec: str, prompts: Iterable[str], *, device: torch.device | str | None = None, cache_folder: Path | None = None
) -> PromptBank:
    """Encode every distinct prompt of a run once with the text encoder of the prior ``spec``
    (loaded only on a cache miss, on ``device``: default the best one here), for the workers."""
    from flexiclip_core.devices import resolve_device

    encoder = load_prompt_encoder(spec, device if device is not None else resolve_device("auto"))
    cache = TextEmbeddingCache(cache_folder if cache_folder is not None else default_text_cache_folder())
    wanted = list(dict.fromkeys(prompts))
    bank = PromptBank(encoder.model_key, embed_prompts(encoder, cache, wanted))
    log.info(
        "text: %d distinct prompt(s) for %s, text encoder loaded %d time(s), %.1f MB for the workers",
        len(wanted),
        spec,
        encoder.loads,
        bank.nbytes() / 1e6,
    )
    return bank


def default_text_cache_folder() -> Path:
    """$FLEXICLIP_CACHE/text-embeddings (the system temp dir's flexiclip-cache when unset)."""
    root = os.environ.get("FLEXICLIP_CACHE") or Path(tempfile.gettempdir()) / "flexiclip-cache"
    return Path(root) / "text-embeddings"
