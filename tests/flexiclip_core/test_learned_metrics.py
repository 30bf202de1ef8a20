"""Learned metrics with tiny randomly initialised models of the real classes, saved and loaded by path.

CLIP and X-CLIP are transformers' `CLIPModel` / `XCLIPModel` with tiny configs and a byte-level
CLIP tokenizer built offline; LPIPS is this module's AlexNet "lin" model with random weights
saved in each accepted key layout. Nothing is downloaded (HF_HUB_OFFLINE=1 and, for the broken
paths, a socket guard that fails the test on any connection attempt).
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from flexiclip_core.learned_metrics import (
    LEARNED_METRIC_NAMES,
    LearnedMetrics,
    LearnedMetricsConfig,
    LpipsAlex,
    compute_learned_metrics,
    load_lpips,
)
from flexiclip_core.metrics import LEARNED_COLUMNS

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    torch.set_num_threads(min(2, torch.get_num_threads()))


def _byte_vocab() -> dict[str, int]:
    """CLIP's byte-to-unicode alphabet, with and without the end-of-word mark, plus specials."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    characters = [chr(code) for code in codes]
    vocab = {character: index for index, character in enumerate(characters)}
    for character in characters:
        vocab[character + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def _tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=_byte_vocab(), merges=[])


def _text_config(vocab_size: int) -> dict:
    return dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )


_VISION = dict(
    image_size=32, patch_size=8, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2
)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    config = CLIPConfig(text_config=_text_config(len(tokenizer)), vision_config=_VISION, projection_dim=16)
    folder = tmp_path_factory.mktemp("tiny_clip")
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def xclip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import XCLIPConfig, XCLIPModel

    torch.manual_seed(1)
    tokenizer = _tokenizer()
    vision = dict(
        _VISION,
        num_frames=4,
        mit_hidden_size=16,
        mit_intermediate_size=24,
        mit_num_hidden_layers=1,
        mit_num_attention_heads=2,
    )
    config = XCLIPConfig(
        text_config=_text_config(len(tokenizer)),
        vision_config=vision,
        projection_dim=16,
        prompt_layers=1,
        prompt_num_attention_heads=2,
    )
    folder = tmp_path_factory.mktemp("tiny_xclip")
    XCLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _lpips_states(seed: int = 2) -> dict[str, dict[str, torch.Tensor]]:
    """One set of random LPIPS weights in each accepted key layout."""
    torch.manual_seed(seed)
    model = LpipsAlex()
    for linear in model.linear:  # LPIPS's linear weights are non-negative
        linear.weight.data.abs_()
    own = {k: v.clone() for k, v in model.state_dict().items()}
    backbone = {k: v for k, v in own.items() if k.startswith("features.")}
    official_lin = {f"lin{k}.model.1.weight": own[f"linear.{k}.weight"] for k in range(5)}
    slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    package = {f"net.slice{slices[int(k.split('.')[1])]}.{k.split('.', 1)[1]}": v for k, v in backbone.items()}
    classifier = {"classifier.1.weight": torch.zeros(2, 2)}  # extra keys of a whole alexnet are ignored
    return {
        "own": own,
        "torchvision+alex.pth": {**backbone, **classifier, **official_lin},
        "lpips-package": {**package, **official_lin, "scaling_layer.shift": torch.zeros(1, 3, 1, 1)},
    }


@pytest.fixture(scope="module")
def lpips_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lpips") / "lpips_alex.pth"
    torch.save(_lpips_states()["torchvision+alex.pth"], path)
    return path


def _frames(count: int = 6, side: int = 48, seed: int = 3) -> np.ndarray:
    """uint8 [N, side, side, 3]: a coloured square drifting right over white."""
    rng = np.random.default_rng(seed)
    frames = np.full((count, side, side, 3), 255, dtype=np.uint8)
    colour = rng.integers(0, 200, size=3, dtype=np.uint8)
    for t in range(count):
        frames[t, 12:36, 8 + 2 * t : 24 + 2 * t] = colour
    return frames


# --- without weights ----------------------------------------------------------------------------


def test_without_weights_every_metric_is_none_with_a_reason_naming_the_setting():
    values, reasons = compute_learned_metrics(_frames(), _frames()[0], "a square moves", LearnedMetricsConfig())
    assert set(values) == set(LEARNED_COLUMNS) == set(LEARNED_METRIC_NAMES)
    assert all(value is None for value in values.values())
    assert "FLEXICLIP_CLIP_MODEL" in reasons["clip_identity"] and "no local weights" in reasons["clip_identity"]
    assert "FLEXICLIP_LPIPS_WEIGHTS" in reasons["identity_lpips"]
    assert "FLEXICLIP_XCLIP_MODEL" in reasons["text_alignment"] and "FLEXICLIP_CLIP_MODEL" in reasons["text_alignment"]


def test_config_from_env():
    config = LearnedMetricsConfig.from_env(
        {"FLEXICLIP_CLIP_MODEL": "/m/clip", "FLEXICLIP_LPIPS_WEIGHTS": "/m/lpips.pth", "FLEXICLIP_XCLIP_MODEL": ""}
    )
    assert config == LearnedMetricsConfig(clip_path="/m/clip", lpips_path="/m/lpips.pth", xclip_path=None)


# --- CLIP / X-CLIP ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_tiny_clip_loaded_by_path_gives_finite_cosines(clip_dir: Path, device: str):
    metrics = LearnedMetrics(LearnedMetricsConfig(clip_path=str(clip_dir)), device=device)
    assert "CLIP mean-over-frames" in metrics.sources["text_alignment"]
    frames = _frames()
    values, reasons = metrics.compute(frames, frames[0], "a <script>square</script> drifts right")
    for column in ("clip_identity", "text_alignment"):
        assert values[column] is not None and math.isfinite(values[column])
        assert -1.0 - 1e-5 <= values[column] <= 1.0 + 1e-5
    assert values["clip_identity"] < 1.0 - 1e-6  # the frames differ from the rest pose
    assert values["identity_lpips"] is None and "FLEXICLIP_LPIPS_WEIGHTS" in reasons["identity_lpips"]
    assert set(reasons) == {"identity_lpips"}

    still = np.repeat(frames[:1], 5, axis=0)
    values, _ = metrics.compute(still, frames[0], "a square")
    assert values["clip_identity"] == pytest.approx(1.0, abs=1e-5)


def test_clip_text_alignment_depends_on_the_prompt(clip_dir: Path):
    metrics = LearnedMetrics(LearnedMetricsConfig(clip_path=str(clip_dir)))
    frames = _frames()
    first, _ = metrics.compute(frames, frames[0], "a square drifts right")
    second, _ = metrics.compute(frames, frames[0], "zzzz qqqq 1234")
    assert first["clip_identity"] == pytest.approx(second["clip_identity"], abs=1e-6)
    assert first["text_alignment"] != pytest.approx(second["text_alignment"], abs=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_tiny_xclip_is_preferred_for_text_alignment(clip_dir: Path, xclip_dir: Path, device: str):
    config = LearnedMetricsConfig(clip_path=str(clip_dir), xclip_path=str(xclip_dir))
    metrics = LearnedMetrics(config, device=device)
    assert "X-CLIP" in metrics.sources["text_alignment"]
    frames = _frames(count=7)
    values, reasons = metrics.compute(frames, frames[0], "a square drifts right")
    clip_only, _ = compute_learned_metrics(
        frames, frames[0], "a square drifts right", LearnedMetricsConfig(clip_path=str(clip_dir)), device
    )
    assert values["text_alignment"] is not None and -1.0 - 1e-5 <= values["text_alignment"] <= 1.0 + 1e-5
    assert values["text_alignment"] != pytest.approx(clip_only["text_alignment"], abs=1e-6)
    assert values["clip_identity"] == pytest.approx(clip_only["clip_identity"], abs=1e-5)
    assert "text_alignment" not in reasons


# --- LPIPS --------------------------------------------------------------------------------------


def test_lpips_key_layouts_load_the_same_model(tmp_path: Path):
    frames = torch.from_numpy(_frames()).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    distances = {}
    for name, state in _lpips_states().items():
        path = tmp_path / f"{name.replace('+', '_')}.pth"
        torch.save(state, path)
        model = load_lpips(path)
        with torch.no_grad():
            distances[name] = model(frames, frames[:1].expand_as(frames))
    reference = distances.pop("own")
    for name, value in distances.items():
        assert torch.equal(value, reference), name
    from safetensors.torch import save_file

    save_file(_lpips_states()["own"], str(tmp_path / "w.safetensors"))
    with torch.no_grad():
        assert torch.equal(load_lpips(tmp_path / "w.safetensors")(frames, frames[:1].expand_as(frames)), reference)


def test_lpips_is_zero_for_identical_images_positive_symmetric_and_linear_in_its_weights():
    model = LpipsAlex().eval()
    for linear in model.linear:
        linear.weight.data.abs_()
    images = torch.from_numpy(_frames()).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    a, b = images[1:], images[:1].expand_as(images[1:])
    with torch.no_grad():
        assert torch.equal(model(a, a), torch.zeros(len(a)))
        forward, backward = model(a, b), model(b, a)
        assert torch.all(forward > 0)
        assert torch.allclose(forward, backward, rtol=1e-5, atol=1e-7)
        for linear in model.linear:  # each layer's term is linear in its weights
            linear.weight.data *= 2.0
        assert torch.allclose(model(a, b), 2.0 * forward, rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_identity_lpips_from_a_weight_file(lpips_file: Path, device: str):
    metrics = LearnedMetrics(LearnedMetricsConfig(lpips_path=str(lpips_file)), device=device)
    frames = _frames()
    values, reasons = metrics.compute(frames, frames[0], "a square")
    assert values["identity_lpips"] is not None and values["identity_lpips"] > 0
    assert "identity_lpips" not in reasons and values["clip_identity"] is None
    still, _ = metrics.compute(np.repeat(frames[:1], 4, axis=0), frames[0], "a square")
    assert still["identity_lpips"] == 0.0
    # Mean over t of LPIPS(frame_t, frame_0), frame 0 included.
    model = load_lpips(lpips_file)
    images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        expected = float(model(images, images[:1].expand_as(images)).mean())
    assert values["identity_lpips"] == pytest.approx(expected, rel=1e-4)


# --- broken paths -------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail (and record) any attempt to open a network connection."""
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"test: network connection to {address!r} refused")
        return original(self, address, *args, **kwargs)

    original = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_broken_or_missing_paths_give_none_and_a_reason_never_a_download(tmp_path: Path, no_network: list, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")  # even without the offline switch, nothing is fetched
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # an empty cache
    broken = tmp_path / "broken_clip"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "clip", "projection_dim": "not a number"}))
    bad_lpips = tmp_path / "bad.pth"
    state = _lpips_states()["own"]
    state["linear.2.weight"] = torch.zeros(1, 7, 1, 1)
    torch.save(state, bad_lpips)

    cases = [
        (LearnedMetricsConfig(clip_path=str(broken)), "clip_identity", str(broken)),
        (
            LearnedMetricsConfig(clip_path="openai/clip-vit-base-patch32"),
            "clip_identity",
            "openai/clip-vit-base-patch32",
        ),
        (LearnedMetricsConfig(xclip_path=str(tmp_path / "missing")), "text_alignment", str(tmp_path / "missing")),
        (LearnedMetricsConfig(lpips_path=str(tmp_path / "missing.pth")), "identity_lpips", "missing.pth"),
        (LearnedMetricsConfig(lpips_path=str(bad_lpips)), "identity_lpips", "linear.2.weight"),
    ]
    frames = _frames(count=3)
    for config, column, named in cases:
        values, reasons = compute_learned_metrics(frames, frames[0], "a square", config)
        assert values[column] is None, config
        assert named in reasons[column] and "could not load" in reasons[column], reasons[column]
    assert no_network == []


def test_bad_images_give_reasons_not_a_crash(lpips_file: Path):
    metrics = LearnedMetrics(LearnedMetricsConfig(lpips_path=str(lpips_file)))
    values, reasons = metrics.compute(np.zeros((2, 8, 8, 3), dtype=np.float32), np.zeros((8, 8, 3), np.uint8), "x")
    assert all(value is None for value in values.values())
    assert "uint8" in reasons["identity_lpips"]


@pytest.mark.slow
def test_animate_clip_fills_learned_columns_from_local_models(clip_dir: Path, lpips_file: Path, tmp_path: Path):
    """The method's own entry point writes learned metrics into metrics.json when models are given."""
    import json

    from flexiclip_core.animate import ClipRequest, animate_clip
    from flexiclip_core.export import ExportConfig
    from flexiclip_core.guidance import load_prior
    from flexiclip_core.learned_metrics import LearnedMetrics, LearnedMetricsConfig
    from flexiclip_core.optimize import preset
    from tests.conftest import SAMPLES_DIR

    learned = LearnedMetrics(LearnedMetricsConfig(clip_path=str(clip_dir), lpips_path=str(lpips_file)))
    request = ClipRequest(svg=SAMPLES_DIR / "plant.svg", prompt="a flower sways", clip_id="plant")
    config = preset("aniclipart").with_overrides({"iterations": 1, "render": {"size": 64}})
    animate_clip(
        request,
        load_prior("tiny"),
        config,
        tmp_path,
        export=ExportConfig(size=64, frame_pngs=False),
        learned_metrics=learned,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert -1.0 <= metrics["clip_identity"] <= 1.0
    assert -1.0 <= metrics["text_alignment"] <= 1.0
    assert metrics["identity_lpips"] >= 0.0
