"""Tiny and ModelScope priors: real diffusers classes, frozen weights, local-only loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.guidance import (
    MODEL_ENV_VAR,
    PRIORS,
    TINY_DESCRIPTION,
    AnalyticGaussianPrior,
    ModelScopePrior,
    ModelScopePriorConfig,
    SdsConfig,
    TinyPrior,
    augment_frames,
    load_prior,
    resolve_modelscope_directory,
    save_tiny_pipeline,
    score_distillation,
    tile_latents,
)
from flexiclip_core.guidance.tiny import TinyPriorConfig, build_byte_level_tokenizer


@pytest.fixture
def no_weights_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face home and no model variable."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    return home


@pytest.fixture(scope="module")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-modelscope-layout"))


def test_registry_names_and_specs() -> None:
    assert {"tiny", "modelscope", "analytic-gaussian"} <= set(PRIORS.names())
    prior = load_prior("analytic-gaussian:flow", device="cpu")
    assert isinstance(prior, AnalyticGaussianPrior) and prior.prediction_type == "flow"
    with pytest.raises(ConfigError):
        load_prior("no-such-prior")
    with pytest.raises(ConfigError):
        load_prior("analytic-gaussian:x0")
    with pytest.raises(ConfigError):
        load_prior("tiny:abc")


def test_byte_level_tokenizer_covers_any_text() -> None:
    tokenizer = build_byte_level_tokenizer()
    assert len(tokenizer) == 514
    ids = tokenizer("A cat dancing — joyfully!").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids[1:-1]
    # CLIP decoding ends every word (punctuation included) with a space; the bytes survive.
    assert tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == "acatdancing—joyfully!"


def test_tiny_prior_is_labelled_and_shaped_like_the_real_one(tiny_prior: TinyPrior) -> None:
    assert tiny_prior.name == "tiny" and not tiny_prior.is_trained
    assert tiny_prior.description == TINY_DESCRIPTION == "tiny random-weight test prior (motion is untrained)"
    assert tiny_prior.prediction_type == "epsilon" and tiny_prior.latent_scale == 16
    text = tiny_prior.encode_text(["a dancing cat"])
    assert text.conditional.shape == (1, 77, 32) and text.unconditional.shape == (1, 77, 32)
    assert not torch.allclose(text.conditional, text.unconditional)
    frames = torch.rand(1, 2, 3, 256, 256)
    assert tiny_prior.encode_frames(frames).shape == (1, 4, 2, 16, 16)


def test_tiny_prior_builds_with_the_real_latent_shapes() -> None:
    """ModelScope's 8× VAE: 256² frames → 4×32² latents, and the UNet predicts at that size."""
    prior = TinyPrior(TinyPriorConfig(vae_channels=(4, 8, 8, 8), vae_norm_groups=4), device="cpu")
    assert prior.latent_scale == 8
    latents = prior.encode_frames(torch.rand(1, 3, 3, 256, 256))
    assert latents.shape == (1, 4, 3, 32, 32)
    text = prior.encode_text(["a dancing cat"])
    prediction = prior.predict_noise(latents, torch.tensor([500]), text.conditional)
    assert prediction.shape == latents.shape and torch.isfinite(prediction).all()


def test_tiny_prior_weights_are_seeded(tiny_prior: TinyPrior) -> None:
    other = TinyPrior(device="cpu")
    for (name, a), (_, b) in zip(tiny_prior.unet.state_dict().items(), other.unet.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    rng_before = torch.random.get_rng_state()
    TinyPrior(device="cpu")
    assert torch.equal(rng_before, torch.random.get_rng_state())  # the global RNG is left alone


def test_vae_is_frozen_and_differentiable_wrt_frames(tiny_prior: TinyPrior) -> None:
    frames = torch.rand(1, 2, 3, 256, 256, requires_grad=True)
    tiny_prior.encode_frames(frames).square().sum().backward()
    assert frames.grad is not None and float(frames.grad.abs().sum()) > 0
    for module in (tiny_prior.vae, tiny_prior.unet, tiny_prior.text_encoder):
        assert all(not p.requires_grad and p.grad is None for p in module.parameters())


def test_sds_step_through_the_tiny_prior(tiny_prior: TinyPrior) -> None:
    """Distinct poses → shared augmentation → VAE → tiled latents → one 3-sample UNet call → frames.

    At 128² and 12 frames to stay cheap on a CPU (the full 256² / 24-frame shapes are the same code).
    """
    generator = torch.Generator().manual_seed(0)
    poses = torch.rand(2, 3, 3, 128, 128, requires_grad=True)  # [final | pose video, Q, 3, H, W]
    frame_to_pose = torch.tensor([0, 1, 2, 2, 1, 0] * 2)
    latents = tile_latents(tiny_prior.encode_frames(augment_frames(poses, generator)), frame_to_pose)
    assert latents.shape == (2, 4, 12, 8, 8)
    text = tiny_prior.encode_text(["a dancing cat"])
    result = score_distillation(tiny_prior, text, latents[:1], latents[1:], SdsConfig(), generator)
    assert result.prior_batch_size == 3 and result.loss_flow is not None
    (result.loss_sds + 15 * result.loss_flow).backward()
    assert poses.grad is not None
    assert float(poses.grad[0].abs().sum()) > 0 and float(poses.grad[1].abs().sum()) > 0
    assert torch.isfinite(poses.grad).all()


def test_missing_weights_raise_prior_unavailable_with_instructions(no_weights_anywhere: Path, tmp_path: Path) -> None:
    with pytest.raises(PriorUnavailable) as nothing:
        resolve_modelscope_directory(None)
    message = str(nothing.value)
    for needle in (
        "CC-BY-NC-4.0",
        MODEL_ENV_VAR,
        "modelscope:",
        "ali-vilab/text-to-video-ms-1.7b",
        str(no_weights_anywhere),
    ):
        assert needle in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PriorUnavailable, match="unet/config.json"):
        load_prior(f"modelscope:{empty}", device="cpu")
    with pytest.raises(PriorUnavailable, match="not a directory"):
        ModelScopePrior(ModelScopePriorConfig(path=str(tmp_path / "absent")), device="cpu")


def test_incomplete_folder_names_what_is_missing(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("unet", "vae", "text_encoder", "scheduler", "tokenizer"):
        (partial / name).mkdir()
        for file in (tiny_pipeline_dir / name).iterdir():
            if "config" in file.name or name in ("tokenizer", "scheduler"):
                (partial / name / file.name).write_bytes(file.read_bytes())
    with pytest.raises(PriorUnavailable, match="unet/ weights"):
        resolve_modelscope_directory(partial)


def test_loads_a_modelscope_layout_folder(
    tiny_pipeline_dir: Path, tiny_prior: TinyPrior, no_weights_anywhere: Path
) -> None:
    """The real loader on the tiny model saved in ModelScope's layout gives the tiny prior's outputs."""
    assert json.loads((tiny_pipeline_dir / "model_index.json").read_text())["unet"] == [
        "diffusers",
        "UNet3DConditionModel",
    ]
    loaded = load_prior(f"modelscope:{tiny_pipeline_dir}", device="cpu")
    assert isinstance(loaded, ModelScopePrior) and loaded.name == "modelscope"
    assert "not the 1.7b architecture" in loaded.description
    assert loaded.unet_dtype == torch.float32 and loaded.vae_dtype == torch.float32
    prompt = ["a dancing cat"]
    torch.testing.assert_close(loaded.encode_text(prompt).conditional, tiny_prior.encode_text(prompt).conditional)
    frames = torch.rand(1, 2, 3, 256, 256)
    torch.testing.assert_close(loaded.encode_frames(frames), tiny_prior.encode_frames(frames))
    latents = torch.randn(1, 4, 3, 32, 32)
    text = tiny_prior.encode_text(prompt).conditional
    t = torch.tensor([500])
    torch.testing.assert_close(loaded.predict_noise(latents, t, text), tiny_prior.predict_noise(latents, t, text))
    torch.testing.assert_close(loaded.alphas_cumprod, tiny_prior.alphas_cumprod)


def test_environment_variable_and_cache_are_found(
    tiny_pipeline_dir: Path, no_weights_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_pipeline_dir))
    assert resolve_modelscope_directory(None) == (tiny_pipeline_dir, str(tiny_pipeline_dir))
    monkeypatch.delenv(MODEL_ENV_VAR)
    # A populated hub cache: models--ORG--NAME/{refs/main, snapshots/COMMIT/...}.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = no_weights_anywhere / "hub" / "models--ali-vilab--text-to-video-ms-1.7b"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots").mkdir()
    (repo / "snapshots" / commit).symlink_to(tiny_pipeline_dir, target_is_directory=True)
    root, origin = resolve_modelscope_directory(None)
    assert root == repo / "snapshots" / commit and origin == f"ali-vilab/text-to-video-ms-1.7b@{commit}"
    assert load_prior("modelscope", device="cpu").identifier.endswith(commit)
