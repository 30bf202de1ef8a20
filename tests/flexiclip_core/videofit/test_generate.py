"""Generated references (docs/method.md §13): the VACE conditioning built from the rest render,
the tiny generator's videos (shape, fps, provenance, determinism per seed) and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.videofit.generate import (
    REFERENCE_GENERATORS,
    WAN_VACE_MODEL_ENV_VAR,
    candidate_seeds,
    load_generator,
    vace_conditioning,
    vace_frame_count,
)
from flexiclip_core.videofit_config import VideoFitConfig


def test_conditioning_keeps_the_rest_render_in_frame_zero_only():
    rest = torch.zeros(1, 4, 2, 2)
    rest[0, :, 0, 0] = torch.tensor([0.2, 0.4, 0.6, 0.5])  # half-transparent: composited over white
    rest[0, :, 1, 1] = torch.tensor([0.1, 0.9, 0.3, 1.0])  # opaque
    video, mask = vace_conditioning(rest, 5)
    assert video.shape == (1, 3, 5, 2, 2) and mask.shape == (1, 1, 5, 2, 2)
    # 2·(a·rgb + (1 − a)·1) − 1: (0.6, 0.7, 0.8) → (0.2, 0.4, 0.6); opaque: 2·rgb − 1; empty: white = 1.
    assert video[0, :, 0, 0, 0].tolist() == pytest.approx([0.2, 0.4, 0.6])
    assert video[0, :, 0, 1, 1].tolist() == pytest.approx([-0.8, 0.8, -0.4])
    assert video[0, :, 0, 0, 1].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert not video[:, :, 1:].any()  # later frames: mid grey, to be generated
    assert mask[0, 0, 0].sum() == 0 and bool((mask[:, :, 1:] == 1).all())


def test_frame_counts_and_candidate_seeds():
    assert [vace_frame_count(n) for n in (1, 2, 5, 24, 25)] == [1, 5, 5, 25, 25]
    assert candidate_seeds(1000, 3) == [1000, 1001, 1002]
    with pytest.raises(ConfigError, match="reference_candidates must be ≥ 1"):
        VideoFitConfig(reference_candidates=0)


def test_unknown_generator_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown reference generator 'sora' \(known: wan-vace, wan-vace-tiny\)"):
        load_generator("sora", device="cpu")
    assert {"wan-vace", "wan-vace-tiny"} <= set(REFERENCE_GENERATORS.names())


def test_missing_model_folder_is_refused_in_one_line_naming_it(tmp_path, monkeypatch):
    missing = tmp_path / "no-vace-here"
    with pytest.raises(PriorUnavailable) as error:
        load_generator("wan-vace", device="cpu", model_dir=missing)
    assert f"model folder {missing} does not exist" in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "half").mkdir()
    monkeypatch.setenv(WAN_VACE_MODEL_ENV_VAR, str(tmp_path / "half"))
    with pytest.raises(PriorUnavailable, match=r"is not a complete WanVACEPipeline folder \(missing: transformer/"):
        load_generator("wan-vace", device="cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_generator("wan-vace-tiny", device="cpu", model_dir=tmp_path_factory.mktemp("vace") / "tiny")


def test_control_stream_holds_the_rest_pose_in_its_kept_part_only(tiny):
    first, second = torch.zeros(1, 4, 32, 32), torch.zeros(1, 4, 32, 32)
    first[:, :, 8:24, 8:24] = 1.0  # a white square...
    second[:, 3, 8:24, 8:24] = 1.0  # ...and a black one, both opaque on white
    control = tiny.control_states(torch.cat([first, second]), 9)  # [2, 16 + 16 + 64, 3, 4, 4]
    assert control.shape == (2, 96, 3, 4, 4)
    kept, generated, mask = control[:, :16], control[:, 16:32], control[:, 32:]
    assert not torch.equal(kept[0], kept[1])  # frame 0 carries the drawing
    assert torch.equal(generated[0], generated[1])  # the generated part never sees it
    # The pipeline folds the mask to latent frames by nearest-exact sampling of frame ⌊(j + ½)·9/3⌋
    # = 1, 4, 7: all "generate"; what is kept reaches the model through the kept latents alone.
    assert bool((mask == 1).all())


def test_tiny_generator_videos_per_seed(tiny):
    rest = torch.rand(1, 4, 32, 32, generator=torch.Generator().manual_seed(0)).expand(2, -1, -1, -1)
    videos = tiny.generate(rest, ["a man waves", "a man waves"], frames=8, fps=12.0, seeds=[5, 6])
    again = tiny.generate(rest[:1], ["a man waves"], frames=8, fps=12.0, seeds=[5])[0]
    first = videos[0]
    assert first.frames.shape == (8, 32, 32, 4) and first.fps == 12.0 and first.frame_count == 8
    assert bool((first.frames[..., 3] == 1.0).all()) and not first.has_alpha
    # Same seed, same video (alone or in a batch: at most one 8-bit level apart); another seed differs.
    assert np.abs(again.frames - first.frames).max() <= 1.0 / 255.0 + 1e-6
    assert np.abs(videos[1].frames - first.frames).max() > 0.05
    # Frame 0 is the kept rest render over white: a·rgb + (1 − a), in 8-bit levels.
    composite = rest[0, :3] * rest[0, 3:] + (1 - rest[0, 3:])
    assert np.abs(first.frames[0, ..., :3] - composite.permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6
    assert np.abs(first.frames[1] - first.frames[0]).max() > 0.05  # later frames are sampled
    assert first.source_kind == "generated:wan-vace-tiny" and first.licence == "n/a" and first.seed == 5
    assert first.provenance()["reference_sha256"] == first.content_sha256 != videos[1].content_sha256
    assert tiny.spec.result_key.startswith("wan-vace-tiny@") and not tiny.spec.is_trained


def test_one_tiny_vae_builder_makes_both_layouts():
    # wan-tiny: 2 stages over 4 × 4 patches → 16× in space; wan-vace-tiny: 3 stages, no patch → 8×
    # (Wan2.1's). Both 4× in time: the last two stages halve time, the first of three does not.
    from flexiclip_core.guidance.wan_tiny import build_tiny_wan_vae

    t2v = build_tiny_wan_vae(4, 16, downsamples=2, patch_size=4).config
    vace = build_tiny_wan_vae(4, 16, downsamples=3).config
    assert (t2v.scale_factor_spatial, t2v.in_channels, t2v.patch_size, t2v.dim_mult) == (16, 48, 4, [1, 1, 1])
    assert t2v.temperal_downsample == [True, True]
    assert (vace.scale_factor_spatial, vace.in_channels, vace.patch_size, vace.dim_mult) == (8, 3, None, [1, 1, 1, 1])
    assert vace.temperal_downsample == [False, True, True] and vace.scale_factor_temporal == 4
    assert vace.latents_mean[:2] == [0.1, -0.1] and vace.latents_std[2] == pytest.approx(1.1)
    with pytest.raises(ConfigError, match="≥ 2 downsampling stages"):
        build_tiny_wan_vae(4, 16, downsamples=1)
