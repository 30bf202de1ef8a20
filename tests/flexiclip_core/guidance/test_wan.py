"""The Wan prior (issue 13): local-only loader, licence, causal joint encoding, text cache, flow SDS.

wan-tiny (the real diffusers classes at toy size, seeded) is saved in the Wan diffusers layout
and loaded by path through the same loader the real 1.3B model goes through.
"""

from __future__ import annotations

import json
import shutil
import socket

import pytest
import torch

from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.guidance import (
    AnalyticGaussianConfig,
    AnalyticGaussianPrior,
    SdsConfig,
    WanPrior,
    WanPriorConfig,
    WanTinyConfig,
    load_prior,
    save_wan_tiny_pipeline,
    score_distillation,
    shifted_flow_sigmas,
)
from flexiclip_core.guidance.wan import WAN_REPO_ID, missing_parts
from flexiclip_core.motion import PoseSchedule
from flexiclip_core.optimize import fit_config_to_prior, preset


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory):
    return save_wan_tiny_pipeline(tmp_path_factory.mktemp("wan") / "Wan-tiny", WanTinyConfig(seed=3))


@pytest.fixture(scope="module")
def wan_prior(wan_folder, tmp_path_factory):
    config = WanPriorConfig(path=str(wan_folder), text_cache_dir=str(tmp_path_factory.mktemp("text")))
    return WanPrior(config, device="cpu")


@pytest.fixture
def no_wan_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FLEXICLIP_WAN_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))


# --- loader ------------------------------------------------------------------------------------


def test_folder_layout_loads_by_path_with_its_licence_and_kind(wan_prior, wan_folder):
    prior = wan_prior
    assert prior.name == "wan" and prior.licence == "Apache-2.0" and prior.commercially_usable
    assert prior.prediction_type == "flow" and prior.frame_encoding == "causal_video"
    assert prior.temporal_compression == 4 and prior.latent_channels == 16
    assert str(wan_folder.resolve()) in prior.identifier
    # fp32 on CPU; the modules Wan keeps in fp32 stay fp32 anyway.
    assert {p.dtype for p in prior.transformer.parameters()} == {torch.float32}
    assert not any(p.requires_grad for p in prior.vae.parameters())


def test_result_key_names_the_weights_by_content_not_by_path_or_time(wan_prior, wan_folder, tmp_path, monkeypatch):
    import os
    import shutil

    from flexiclip_core.guidance import base
    from flexiclip_core.guidance.base import weights_fingerprint

    assert wan_prior.result_key == f"wan@{weights_fingerprint(wan_folder)}"
    monkeypatch.setattr(base, "FINGERPRINT_WINDOW_BYTES", 16)  # so the middle window alone sees the change
    copy = shutil.copytree(wan_folder, tmp_path / "elsewhere")  # another node's copy: other path, other mtimes
    for path in copy.rglob("*"):
        os.utime(path, ns=(1, 1))
    assert weights_fingerprint(copy) == weights_fingerprint(wan_folder)
    weights = max(copy.rglob("*.safetensors"), key=lambda path: path.stat().st_size)
    data = bytearray(weights.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF  # other weights under the same name
    weights.write_bytes(bytes(data))
    assert weights_fingerprint(copy) != weights_fingerprint(wan_folder)


def test_environment_variable_and_spec_string(wan_folder, no_wan_env, monkeypatch):
    monkeypatch.setenv("FLEXICLIP_WAN_MODEL", str(wan_folder))
    prior = load_prior("wan", device="cpu")
    assert isinstance(prior, WanPrior) and str(wan_folder.resolve()) in prior.identifier


def test_hub_cache_layout_is_read_from_disk_without_any_network(wan_folder, no_wan_env, monkeypatch, tmp_path):
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / ("models--" + WAN_REPO_ID.replace("/", "--"))
    shutil.copytree(wan_folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))

    def refuse(*args, **kwargs):
        raise AssertionError("the Wan loader opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    prior = load_prior("wan", device="cpu")
    assert prior.identifier == f"wan:{WAN_REPO_ID}@{revision}"


def test_bf16_weight_files_load_as_fp32_on_cpu(tmp_path, wan_prior):
    folder = save_wan_tiny_pipeline(tmp_path / "bf16", WanTinyConfig(seed=3), dtype=torch.bfloat16)
    assert json.loads((folder / "transformer" / "config.json").read_text())["num_layers"] == 2
    prior = WanPrior(WanPriorConfig(path=str(folder), text_cache_dir=str(tmp_path / "text")), device="cpu")
    assert {p.dtype for p in prior.transformer.parameters()} == {torch.float32}
    latents = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    text = torch.randn(1, 8, 16, generator=torch.Generator().manual_seed(1))
    steps = torch.tensor([500])
    # Same weights up to bf16 rounding: the outputs agree to bf16 precision.
    difference = prior.predict_noise(latents, steps, text) - wan_prior.predict_noise(latents, steps, text)
    assert float(difference.abs().max()) < 0.1


def _remove_shard(folder):
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.rename(folder / "transformer" / "diffusion_pytorch_model-00001-of-00002.safetensors")
    index = {
        "weight_map": {
            "a": "diffusion_pytorch_model-00001-of-00002.safetensors",
            "b": "diffusion_pytorch_model-00002-of-00002.safetensors",
        }
    }
    (folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))


MISSING_PARTS = {
    "transformer/ weights": lambda f: (f / "transformer" / "diffusion_pytorch_model.safetensors").unlink(),
    "transformer/config.json": lambda f: (f / "transformer" / "config.json").unlink(),
    "vae/ weights": lambda f: (f / "vae" / "diffusion_pytorch_model.safetensors").unlink(),
    "vae/config.json": lambda f: (f / "vae" / "config.json").unlink(),
    "text_encoder/ weights": lambda f: (f / "text_encoder" / "model.safetensors").unlink(),
    "text_encoder/config.json": lambda f: (f / "text_encoder" / "config.json").unlink(),
    "scheduler/scheduler_config.json": lambda f: shutil.rmtree(f / "scheduler"),
    "tokenizer/": lambda f: shutil.rmtree(f / "tokenizer"),
    "weight shards diffusion_pytorch_model-00002-of-00002.safetensors": _remove_shard,
}


@pytest.mark.parametrize("part", sorted(MISSING_PARTS))
def test_each_missing_part_gives_its_own_prior_unavailable(part, wan_folder, tmp_path, no_wan_env):
    folder = shutil.copytree(wan_folder, tmp_path / "partial")
    MISSING_PARTS[part](folder)
    assert [entry for entry in missing_parts(folder) if part in entry], missing_parts(folder)
    with pytest.raises(PriorUnavailable) as error:
        load_prior(f"wan:{folder}", device="cpu")
    message = str(error.value)
    assert part in message and "FLEXICLIP_WAN_MODEL" in message and "hf download" in message
    others = [other for other in MISSING_PARTS if other != part and other not in part and part not in other]
    assert not any(f"missing: {other}" in message for other in others)


def test_no_weights_anywhere_says_how_to_provide_them(no_wan_env):
    with pytest.raises(PriorUnavailable, match="no weights found.*FLEXICLIP_WAN_MODEL"):
        load_prior("wan", device="cpu")


def test_a_non_flow_scheduler_is_refused(wan_folder, tmp_path, no_wan_env):
    folder = shutil.copytree(wan_folder, tmp_path / "ddim")
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": "DDIMScheduler"}))
    with pytest.raises(PriorUnavailable, match="flow"):
        load_prior(f"wan:{folder}", device="cpu")


def test_wan_tiny_loads_through_the_real_loader_and_is_labelled_untrained(monkeypatch, tmp_path):
    monkeypatch.setenv("FLEXICLIP_CACHE", str(tmp_path))
    prior = load_prior("wan-tiny:5", device="cpu")
    assert isinstance(prior, WanPrior) and prior.name == "wan-tiny"
    assert prior.is_trained is False and "untrained" in prior.description and prior.licence == "n/a"
    assert not prior.commercially_usable
    assert not missing_parts(prior.weights_directory) and prior.weights_directory.parent == tmp_path


# --- schedule ----------------------------------------------------------------------------------


def test_timestep_shift_matches_diffusers_flow_scheduler(wan_prior):
    from diffusers import FlowMatchEulerDiscreteScheduler

    reference = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0).sigmas.double()
    ours = shifted_flow_sigmas(1000, 3.0)
    torch.testing.assert_close(ours.flip(0), reference, rtol=0, atol=1e-6)
    assert wan_prior.scheduler_shift == 3.0  # read from the folder's UniPC scheduler_config.json
    # Rescaled from 480×832 to 256² frames (SD3's √(pixel ratio) rule).
    assert wan_prior.timestep_shift == pytest.approx(3.0 * (256 * 256 / (480 * 832)) ** 0.5)
    explicit = WanPrior(
        WanPriorConfig(
            path=str(wan_prior.weights_directory), timestep_shift=3.0, text_cache_dir=str(wan_prior.text_cache.folder)
        ),
        device="cpu",
    )
    torch.testing.assert_close(explicit.schedule.noise_scales, ours)
    sigmas = explicit.schedule.noise_scales.float()
    torch.testing.assert_close(explicit.model_timesteps(torch.tensor([0, 999])), 1000 * sigmas[[0, 999]])


# --- causal joint encoding ---------------------------------------------------------------------


def test_video_is_encoded_jointly_causally_and_normalised(wan_prior):
    prior = wan_prior
    frames = torch.rand(2, 9, 3, 32, 32, generator=torch.Generator().manual_seed(0), requires_grad=True)
    latents = prior.encode_frames(frames)
    assert latents.shape == (2, 16, 3, 2, 2)
    with torch.no_grad():
        raw = prior.vae.encode(frames.permute(0, 2, 1, 3, 4) * 2 - 1).latent_dist.mean
        mean = torch.tensor(prior.vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(prior.vae.config.latents_std).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(latents.detach(), (raw - mean) / std)
    latents[:, :, 1].sum().backward()
    assert frames.grad[:, :5].abs().sum() > 0  # latent frame 1 sees frames 0 … 4
    assert frames.grad[:, 5:].abs().sum() == 0  # and nothing after them: causal
    with pytest.raises(ConfigError, match="4k \\+ 1"):
        prior.encode_frames(torch.rand(1, 8, 3, 32, 32))


def test_fit_config_to_prior_picks_25_frames_for_a_causal_vae(wan_prior):
    fitted = fit_config_to_prior(preset("flexiclip"), wan_prior)
    assert fitted.schedule == PoseSchedule(frame_count=25, loop_count=2, hold_turns=False)
    assert fitted.schedule.pose_count == 7
    assert fitted.schedule.frame_to_pose().tolist() == [0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1] * 2 + [0]
    per_frame = AnalyticGaussianPrior(torch.zeros(1), device="cpu")
    assert fit_config_to_prior(preset("flexiclip"), per_frame) == preset("flexiclip")


# --- text: once per prompt, on disk, encoder released ------------------------------------------


def test_prompts_are_encoded_once_and_cached_on_disk(wan_folder, tmp_path):
    config = WanPriorConfig(path=str(wan_folder), text_cache_dir=str(tmp_path / "text"))
    first = WanPrior(config, device="cpu")
    embeddings = first.encode_text(["a cat dancing"], ["blurry"])
    assert first.text_encoder_loads == 1 and first.prompt_encoder.model is None  # released after encoding
    assert embeddings.conditional.shape == (1, 512, 16)
    length = len(first.prompt_encoder.load()[1]("a cat dancing").input_ids)
    first.release_text_encoder()
    assert embeddings.conditional[0, :length].abs().sum(-1).min() > 0
    assert embeddings.conditional[0, length:].abs().max() == 0  # zero past the prompt, as WanPipeline
    assert len(list((tmp_path / "text").glob("*.pt"))) == 2

    second = WanPrior(config, device="cpu")
    again = second.encode_text(["a cat dancing"], ["blurry"])
    assert second.text_encoder_loads == 0  # both prompts came from the cache
    torch.testing.assert_close(again.conditional, embeddings.conditional)
    torch.testing.assert_close(again.unconditional, embeddings.unconditional)
    assert not torch.equal(again.conditional, again.unconditional)


# --- flow-matching SDS -------------------------------------------------------------------------


def _flow_prior(**kwargs) -> AnalyticGaussianPrior:
    config = AnalyticGaussianConfig(prediction_type="flow", data_std=0.5, timestep_shift=3.0, temporal_compression=4)
    generator = torch.Generator().manual_seed(7)
    mean = torch.randn(1, 16, 3, 2, 2, generator=generator)
    return AnalyticGaussianPrior(mean, config, device="cpu", **kwargs)


def test_flow_output_to_epsilon_is_the_epsilon_form_of_the_velocity_residual():
    prior = _flow_prior()
    generator = torch.Generator().manual_seed(1)
    clean, noise, velocity = (torch.randn(4, 16, 3, 2, 2, generator=generator) for _ in range(3))
    timesteps = torch.tensor([0, 300, 700, 999])
    noisy = prior.add_noise(clean, noise, timesteps)
    sigma = prior.schedule.scales_at(timesteps)[1].view(-1, 1, 1, 1, 1)
    # ε̂ − ε = (1 − σ)(v̂ − (ε − z₀)): flow SDS is ε-SDS with the weight divided by (1 − σ).
    torch.testing.assert_close(
        prior.output_to_epsilon(velocity, noisy, timesteps) - noise, (1 - sigma) * (velocity - (noise - clean))
    )


@pytest.mark.parametrize("scale", [0.0, 1.0, 7.5])
def test_flow_cfg_gradient_matches_its_closed_form(scale):
    """g = w (ε̂_u + s(ε̂_c − ε̂_u) − ε) for the exact Gaussian denoiser, in closed form:
    w [ασ/V · (z − μ_u − s(μ_c − μ_u)) + (σ²/V − 1) ε], V = α²s_d² + σ² — it pulls z towards the
    guided mean μ_u + s(μ_c − μ_u), the sign CFG must have."""
    generator = torch.Generator().manual_seed(3)
    unconditional = torch.randn(1, 16, 3, 2, 2, generator=generator)
    prior = _flow_prior(unconditional_mean=unconditional)
    text = prior.encode_text(["p"])
    latents = torch.randn(2, 16, 3, 2, 2, generator=generator)
    config = SdsConfig(guidance_scale=scale)
    result = score_distillation(prior, text, latents, None, config, generator=torch.Generator().manual_seed(11))

    replay = torch.Generator().manual_seed(11)
    timesteps = torch.randint(config.t_min, config.t_max + 1, (2,), generator=replay)
    noise = torch.randn(latents.shape, generator=replay)
    torch.testing.assert_close(result.timesteps, timesteps)
    alpha, sigma = (x.view(-1, 1, 1, 1, 1) for x in prior.schedule.scales_at(timesteps))
    variance = alpha**2 * prior.config.data_std**2 + sigma**2
    weight = sigma**2 / (alpha**2 + sigma**2)  # 1 − ᾱ of the SNR-equivalent VP process
    guided_mean = unconditional + scale * (prior.mean - unconditional)
    expected = weight * (alpha * sigma / variance * (latents - guided_mean) + (sigma**2 / variance - 1) * noise)
    torch.testing.assert_close(result.sds_gradient, expected, rtol=1e-4, atol=1e-5)


def test_cfg_in_velocity_space_equals_cfg_in_epsilon_space():
    prior = _flow_prior()
    generator = torch.Generator().manual_seed(5)
    noisy, velocity_u, velocity_c = (torch.randn(2, 16, 3, 2, 2, generator=generator) for _ in range(3))
    timesteps = torch.tensor([100, 800])
    scale = 5.0
    to_epsilon = lambda v: prior.output_to_epsilon(v, noisy, timesteps)  # noqa: E731
    guided_velocity = velocity_u + scale * (velocity_c - velocity_u)
    torch.testing.assert_close(
        to_epsilon(guided_velocity), to_epsilon(velocity_u) + scale * (to_epsilon(velocity_c) - to_epsilon(velocity_u))
    )


def test_sds_step_with_wan_runs_one_batched_call(wan_prior):
    frames = torch.rand(2, 5, 3, 32, 32, generator=torch.Generator().manual_seed(0), requires_grad=True)
    latents = wan_prior.encode_frames(frames)
    text = wan_prior.encode_text(["a dancing cat"])
    result = score_distillation(
        wan_prior, text, latents[:1], latents[1:], SdsConfig(), generator=torch.Generator().manual_seed(0)
    )
    assert result.prior_batch_size == 3 and result.sds_gradient.shape == (1, 16, 2, 2, 2)
    (result.loss_sds + result.loss_flow).backward()
    assert frames.grad is not None and frames.grad.abs().sum() > 0


# --- `--prior auto` and licences ---------------------------------------------------------------


def test_auto_uses_wan_when_configured_and_never_falls_back_to_modelscope(
    wan_folder, tmp_path, no_wan_env, monkeypatch
):
    from flexiclip_core.guidance import save_tiny_pipeline
    from tasks.worker import load_video_prior

    monkeypatch.setenv("FLEXICLIP_T2V_MODEL", str(save_tiny_pipeline(tmp_path / "modelscope")))
    monkeypatch.setenv("FLEXICLIP_WAN_MODEL", str(wan_folder))
    prior, reason = load_video_prior("auto", "cpu")
    assert prior.name == "wan" and prior.licence == "Apache-2.0" and reason is None

    broken = shutil.copytree(wan_folder, tmp_path / "broken")
    (broken / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    monkeypatch.setenv("FLEXICLIP_WAN_MODEL", str(broken))
    with pytest.raises(PriorUnavailable, match="vae/ weights"):
        load_video_prior("auto", "cpu")  # configured but incomplete: an error, not ModelScope


def test_auto_says_so_when_it_picks_the_non_commercial_modelscope(tmp_path, no_wan_env, monkeypatch, caplog):
    from flexiclip_core.guidance import save_tiny_pipeline
    from tasks.worker import load_video_prior

    monkeypatch.setenv("FLEXICLIP_T2V_MODEL", str(save_tiny_pipeline(tmp_path / "modelscope")))
    with caplog.at_level("WARNING", logger="flexiclip_core.guidance.choice"):
        prior, _ = load_video_prior("auto", "cpu")
    assert prior.name == "modelscope" and prior.licence == "CC-BY-NC-4.0" and not prior.commercially_usable
    assert "non-commercial" in caplog.text and "FLEXICLIP_WAN_MODEL" in caplog.text


def test_analytic_causal_encoder_stacks_time_into_channels_causally():
    prior = AnalyticGaussianPrior(torch.zeros(1), AnalyticGaussianConfig(temporal_compression=4), device="cpu")
    frames = torch.rand(1, 9, 3, 16, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    latents = prior.encode_frames(frames)
    per_frame = AnalyticGaussianPrior(torch.zeros(1), device="cpu").encode_frames(frames)  # [1, 4, 9, 2, 2]
    assert latents.shape == (1, 16, 3, 2, 2) and prior.latent_channels == 16
    torch.testing.assert_close(latents[:, 4:8, 1], per_frame[:, :, 2])  # chunk 1, slot 1 = frame 2
    torch.testing.assert_close(latents[:, 12:16, 0], per_frame[:, :, 0])  # chunk 0 = frame 0 repeated
    latents[:, :, 1].sum().backward()
    assert frames.grad[:, 1:5].abs().sum() > 0 and frames.grad[:, 5:].abs().sum() == 0


def test_preflight_decides_auto_for_wan_before_any_worker_starts(wan_folder, tmp_path, no_wan_env, monkeypatch):
    from flexiclip_core.guidance import save_tiny_pipeline
    from tasks.preflight import PreflightError, resolve_prior

    monkeypatch.setenv("FLEXICLIP_T2V_MODEL", str(save_tiny_pipeline(tmp_path / "modelscope")))
    assert resolve_prior("auto").spec == "modelscope"  # only when no Wan is configured
    monkeypatch.setenv("FLEXICLIP_WAN_MODEL", str(wan_folder))
    assert resolve_prior("auto").spec == "wan"
    broken = shutil.copytree(wan_folder, tmp_path / "broken")
    shutil.rmtree(broken / "tokenizer")
    monkeypatch.setenv("FLEXICLIP_WAN_MODEL", str(broken))
    with pytest.raises(PreflightError, match="never falls back.*tokenizer/"):
        resolve_prior("auto")
    with pytest.raises(PreflightError, match="not a directory"):
        resolve_prior(f"wan:{tmp_path / 'nothing'}")


def test_text_path_equals_wan_pipeline_encode_prompt(wan_prior, wan_folder):
    """The embeddings WanPipeline.encode_prompt makes (its prompt cleaning, 512 tokens, zero past
    each prompt) are what the prior conditions on: the pipeline defines the model's use."""
    from diffusers import WanPipeline
    from transformers import AutoTokenizer, UMT5EncoderModel

    pipeline = WanPipeline(
        tokenizer=AutoTokenizer.from_pretrained(wan_folder / "tokenizer"),
        text_encoder=UMT5EncoderModel.from_pretrained(wan_folder / "text_encoder"),
        vae=wan_prior.vae,
        scheduler=None,
        transformer=wan_prior.transformer,
    )
    prompts = ["a cat  dancing\n", "a person waving both arms"]  # irregular spaces: the pipeline cleans them
    negatives = ["blurry &amp; static", ""]
    expected, expected_negative = pipeline.encode_prompt(
        prompts, negatives, max_sequence_length=512, device=torch.device("cpu"), dtype=torch.float32
    )
    ours = wan_prior.encode_text(prompts, negatives)
    # float32 to ~10 ulp of values up to ~1: the two paths batch the prompts differently, so the
    # encoder's matrix products may sum in another order (once 1.01e-6 off, 2026-12-07, in a
    # clean-clone `make test`). Any prompt-handling error is orders of magnitude larger.
    torch.testing.assert_close(ours.conditional, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.unconditional, expected_negative, rtol=0, atol=1e-5)


def test_text_cache_key_changes_with_the_dtype_and_each_other_part(wan_prior):
    encoder = wan_prior.prompt_encoder
    key = encoder.key("a cat dancing")
    assert encoder.key("a cat  dancing ") == key  # the same text once cleaned as WanPipeline cleans it
    assert encoder.key("a dog dancing") != key
    for change in ({"dtype": torch.bfloat16}, {"max_tokens": 256}, {"model_key": encoder.model_key + "x"}):
        saved = {name: getattr(encoder, name) for name in change}
        try:
            for name, value in change.items():
                setattr(encoder, name, value)
            assert encoder.key("a cat dancing") != key, change
        finally:
            for name, value in saved.items():
                setattr(encoder, name, value)
    assert encoder.key("a cat dancing") == key


@pytest.mark.parametrize("damage", ["torn", "foreign"])
def test_a_corrupt_cache_file_is_re_encoded_and_replaced(wan_folder, tmp_path, damage):
    config = WanPriorConfig(path=str(wan_folder), text_cache_dir=str(tmp_path / "text"))
    reference = WanPrior(config, device="cpu").encode_text(["a cat dancing"], ["blurry"]).conditional
    path = tmp_path / "text" / f"{WanPrior(config, device='cpu').prompt_encoder.key('a cat dancing')}.pt"
    assert path.is_file()
    if damage == "torn":
        path.write_bytes(path.read_bytes()[:40])
    else:
        torch.save({"not": "a tensor"}, path)
    again = WanPrior(config, device="cpu")
    rebuilt = again.encode_text(["a cat dancing"], ["blurry"]).conditional
    assert again.text_encoder_loads == 1  # re-encoded, not a crash
    torch.testing.assert_close(rebuilt, reference)
    assert torch.load(path, weights_only=True).dim() == 2  # and the file replaced


def test_vae_dtype_rule_fp32_on_cpu_and_on_large_cards_bf16_on_small_ones():
    from flexiclip_core.guidance.wan import WAN_FP32_VAE_MIN_GIB, wan_vae_dtype

    gib = 1024**3
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert wan_vae_dtype("auto", cpu, None) == torch.float32
    assert wan_vae_dtype("auto", cuda, 24 * gib) == torch.bfloat16
    assert wan_vae_dtype("auto", cuda, 48 * gib) == torch.bfloat16
    assert wan_vae_dtype("auto", cuda, int(WAN_FP32_VAE_MIN_GIB * gib)) == torch.float32
    assert wan_vae_dtype("auto", cuda, 80 * gib) == torch.float32  # H100
    assert wan_vae_dtype("auto", cuda, None) == torch.bfloat16  # unknown: taken as small
    assert wan_vae_dtype("bfloat16", cuda, 141 * gib) == torch.bfloat16  # an explicit choice wins
    assert wan_vae_dtype("float32", cuda, 24 * gib) == torch.float32


def test_wan21_vae_without_patchify_encodes_causally_and_backpropagates(tmp_path):
    """wan-tiny patchifies (a Wan2.2 option); Wan2.1's VAE does not: its path, at tiny width."""
    from flexiclip_core.guidance.wan_tiny import build_tiny_wan_vae, build_wan_tiny_components

    components = build_wan_tiny_components(WanTinyConfig(seed=5))
    torch.manual_seed(5)
    # Wan2.1's layout: 3 RGB channels in, no patch_size, 8× in space (three 2× stages), 4× in time
    components["vae"] = build_tiny_wan_vae(4, 16, downsamples=3)
    assert components["vae"].config.patch_size is None and components["vae"].config.in_channels == 3
    from flexiclip_core.guidance.diffusers_prior import save_pipeline_folder

    folder = save_pipeline_folder(tmp_path / "wan21", "WanPipeline", components)
    prior = WanPrior(WanPriorConfig(path=str(folder), text_cache_dir=str(tmp_path / "text")), device="cpu")
    assert prior.latent_scale == 8 and prior.frame_multiple == 16
    frames = torch.rand(2, 5, 3, 16, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    latents = prior.encode_frames(frames)
    assert latents.shape == (2, 16, 2, 2, 2)
    latents[:, :, 0].sum().backward()
    assert frames.grad[:, 0].abs().sum() > 0  # latent frame 0 is frame 0 alone
    assert frames.grad[:, 1:].abs().sum() == 0  # causal: later frames do not reach it
    frames.grad = None
    latents = prior.encode_frames(frames)
    latents[0, :, 1].sum().backward()
    assert frames.grad[0, 1:].abs().sum(dim=(1, 2, 3)).min() > 0  # latent frame 1 sees frames 1 … 4
    assert frames.grad[1].abs().sum() == 0  # and never the other video of the batch


def test_a_clip_rendered_at_another_size_than_the_shift_is_tuned_for_is_warned_about(wan_prior, caplog):
    assert wan_prior.shift_frame_size == (256, 256)
    with caplog.at_level("WARNING", logger="flexiclip_core.config"):
        fit_config_to_prior(preset("flexiclip"), wan_prior)
    assert "timestep shift" not in caplog.text
    with caplog.at_level("WARNING", logger="flexiclip_core.config"):
        fit_config_to_prior(preset("flexiclip").with_overrides({"render.size": 512}), wan_prior)
    assert "tuned for 256x256 frames, this clip renders 512x512" in caplog.text
