"""K clips in lockstep (issue 14 item 2, docs/method.md §10): one encoder and one prior call per
iteration for all clips, each clip following exactly the trajectory it follows alone."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance import AnalyticGaussianPrior, TinyPrior, VideoPrior
from flexiclip_core.lockstep import LOCKSTEP_FIELDS, lockstep_key, optimise_lockstep
from flexiclip_core.optimize import (
    AnimationResult,
    ClipAnimator,
    ExecutionConfig,
    fit_config_to_prior,
    optimise,
    preset,
)
from flexiclip_core.rig import rig_clipart
from flexiclip_core.svg import parse_svg
from tests.conftest import SAMPLES_DIR

CLIPS = (("human", 11), ("animal", 12), ("plant", 13))
"""Three drawings (one hand-rigged, two auto-rigged), each with its own prompt and seed."""
SMALL = {"render": {"size": 64}, "iterations": 2}
TOLERANCE_PX = 1e-6


@cache
def _clip(clip_id: str):
    entry = next(e for e in json.loads((SAMPLES_DIR / "samples.json").read_text()) if e["clip_id"] == clip_id)
    clipart = parse_svg(SAMPLES_DIR / entry["svg"], clip_id=clip_id)
    if "keypoints" in entry:
        rig = rig_clipart(clipart, keypoints=np.array(entry["keypoints"]), bones=np.array(entry["skeleton"]))
    else:
        rig = rig_clipart(clipart)
    return clipart, rig, entry["prompt"]


@cache
def _prior(name: str) -> VideoPrior:
    """float64 networks: batched kernels then agree with unbatched ones far below the tolerance
    (in float32 the prior's batched convolutions differ by ~1e-7, which the guidance scale of 50
    amplifies to ~1e-5 px after a few steps: a property of the kernels, not of lockstep)."""
    if name == "tiny":
        return TinyPrior(device="cpu", dtype=torch.float64)
    causal = name == "analytic-causal"  # a causal video encoder, as Wan's: whole 25-frame videos
    target = torch.rand(1, 25 if causal else 24, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    return AnalyticGaussianPrior.from_target_frames(target, device="cpu", temporal_compression=4 if causal else 1)


def _animator(prior: VideoPrior, clip: int, method: str = "flexiclip", **overrides) -> ClipAnimator:
    clip_id, seed = CLIPS[clip]
    clipart, rig, prompt = _clip(clip_id)
    config = fit_config_to_prior(preset(method).with_overrides({**SMALL, "seed": seed, **overrides}), prior)
    return ClipAnimator(clipart, rig, prior, prompt, config, dtype=torch.float64)


@cache
def _solo(prior_name: str, clip: int) -> AnimationResult:
    return optimise(_animator(_prior(prior_name), clip))


class CallLog:
    """Records the batch size of each encoder and denoiser call of a prior (then restores it)."""

    def __init__(self, prior: VideoPrior) -> None:
        self.prior, self.encode, self.denoise = prior, [], []
        self._encode, self._denoise = prior.encode_frames, prior.predict_noise

        def encode_frames(frames):
            self.encode.append(frames.shape[0])
            return self._encode(frames)

        def predict_noise(latents, timesteps, text):
            self.denoise.append(latents.shape[0])
            return self._denoise(latents, timesteps, text)

        prior.encode_frames, prior.predict_noise = encode_frames, predict_noise  # type: ignore[method-assign]

    def restore(self) -> None:
        del self.prior.encode_frames, self.prior.predict_noise


@pytest.mark.parametrize("prior_name", ["tiny", "analytic", "analytic-causal"])
def test_clips_in_lockstep_follow_their_solo_trajectories(prior_name):
    prior = _prior(prior_name)
    animators = [_animator(prior, clip) for clip in range(len(CLIPS))]
    calls = CallLog(prior)
    try:
        results = optimise_lockstep(animators)
    finally:
        calls.restore()
    # ONE encoder call (3 clips × 2 videos) and ONE denoiser call (3 clips × 3 samples) per step.
    assert calls.encode == [6, 6] and calls.denoise == [9, 9]
    for clip, result in enumerate(results):
        solo = _solo(prior_name, clip)
        assert isinstance(result, AnimationResult), result
        assert np.abs(result.frame_points - solo.frame_points).max() <= TOLERANCE_PX, CLIPS[clip]
        assert [row["step"] for row in result.loss_history] == [1.0, 2.0]
        np.testing.assert_allclose(
            [row["total"] for row in result.loss_history], [row["total"] for row in solo.loss_history], rtol=1e-9
        )
    # The clips really differ: lockstep did not collapse them onto one trajectory.
    assert results[0].frame_points.shape != results[1].frame_points.shape or not np.allclose(
        results[0].frame_points, results[1].frame_points
    )


def test_one_clip_in_lockstep_is_exactly_optimise():
    prior = AnalyticGaussianPrior.from_target_frames(torch.rand(1, 24, 3, 64, 64), device="cpu")
    seen = []
    (alone,) = optimise_lockstep(
        [_animator(prior, 0, iterations=3)], on_step=lambda clip, report: seen.append((clip, report.step))
    )
    reference = optimise(_animator(prior, 0, iterations=3))
    assert isinstance(alone, AnimationResult)
    np.testing.assert_array_equal(alone.frame_points, reference.frame_points)
    np.testing.assert_array_equal(alone.frame_jacobians, reference.frame_jacobians)
    assert alone.loss_history == reference.loss_history
    assert seen == [(0, 1), (0, 2), (0, 3)]


class PoisonedText:
    """A clip whose prompt embedding is NaN: its samples in the shared prior call come out NaN."""

    def __init__(self, animator: ClipAnimator) -> None:
        text = animator.text
        animator.text = type(text)(
            torch.full_like(text.conditional, float("nan")), text.unconditional, text.prompts, text.negative_prompts
        )


@pytest.mark.parametrize("report_every", [1, 3])
def test_a_nan_clip_is_dropped_and_cannot_reach_its_batch_mates(report_every):
    """The NaN clip shares every prior call with the others (report_every=3: until the final
    read-back, or until its NaN parameters make its own renderer fail)."""
    prior = _prior("tiny")
    animators = [_animator(prior, clip) for clip in range(len(CLIPS))]
    PoisonedText(animators[1])
    results = optimise_lockstep(animators, execution=ExecutionConfig(report_every=report_every))
    assert isinstance(results[1], FloatingPointError)
    assert "lockstep clip 1 of 3: loss became nan at step 1" in str(results[1])
    for clip in (0, 2):
        result = results[clip]
        assert isinstance(result, AnimationResult), result
        assert np.abs(result.frame_points - _solo("tiny", clip).frame_points).max() <= TOLERANCE_PX


def test_a_clip_whose_own_render_fails_is_dropped_with_that_error():
    prior = _prior("analytic")
    animators = [_animator(prior, clip) for clip in range(len(CLIPS))]
    render = animators[0].renderer.render
    calls = {"count": 0}

    def failing_render(points):
        calls["count"] += 1
        if calls["count"] == 2:
            raise RuntimeError("renderer broke on clip 0")
        return render(points)

    animators[0].renderer.render = failing_render  # type: ignore[method-assign]
    reports: list[tuple[int, int]] = []
    results = optimise_lockstep(animators, on_step=lambda clip, report: reports.append((clip, report.step)))
    assert isinstance(results[0], RuntimeError) and "renderer broke" in str(results[0])
    assert (0, 1) in reports and (0, 2) not in reports
    for clip in (1, 2):
        assert np.abs(results[clip].frame_points - _solo("analytic", clip).frame_points).max() <= TOLERANCE_PX


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"iterations": 4}, "iterations"),
        ({"render": {"size": 128}}, "render_size"),
        ({"flow_loss": False, "temporal_jacobians": False}, "flow_loss"),
    ],
)
def test_incompatible_animators_raise_a_config_error_naming_the_field(overrides, field):
    prior = _prior("analytic")
    other = _animator(prior, 1, **overrides)
    assert lockstep_key(_animator(prior, 0)) != lockstep_key(other)
    with pytest.raises(
        ConfigError, match=rf"lockstep clip 1 of 2 cannot share a batch with lockstep clip 0 of 2: {field} differs"
    ):
        optimise_lockstep([_animator(prior, 0), other])


def test_clips_must_share_one_prior_object():
    first = _animator(_prior("analytic"), 0)
    second = _animator(AnalyticGaussianPrior.from_target_frames(torch.rand(1, 24, 3, 64, 64), device="cpu"), 1)
    with pytest.raises(ConfigError, match="prior differs"):
        optimise_lockstep([first, second])


def test_lockstep_key_groups_clips_that_differ_only_in_what_each_clip_owns():
    prior = _prior("analytic")
    key = lockstep_key(_animator(prior, 0))
    assert [name for name, _ in key] == list(LOCKSTEP_FIELDS)
    hash(key)
    # Another drawing, prompt, seed, learning rate and guidance scale: same batch.
    assert lockstep_key(_animator(prior, 2, learning_rate=0.01, sds={"guidance_scale": 20.0})) == key


@pytest.mark.parametrize("pad_to", [None, 3])
def test_a_padded_prior_call_keeps_its_size_when_a_clip_drops(pad_to):
    """pad_to=3: the NaN clip dropped after step 1 leaves 2 live clips, the denoiser still sees
    3 clips × 3 samples (a compiled prior would not recompile); the survivors are unchanged."""
    prior = _prior("tiny")
    animators = [_animator(prior, clip) for clip in range(len(CLIPS))]
    PoisonedText(animators[1])
    calls = CallLog(prior)
    try:
        results = optimise_lockstep(animators, execution=ExecutionConfig(report_every=1), pad_to=pad_to)
    finally:
        calls.restore()
    assert calls.denoise == ([9, 9] if pad_to else [9, 6])  # unpadded: the call shrinks with the batch
    assert isinstance(results[1], FloatingPointError) and "at step 1" in str(results[1])
    for clip in (0, 2):
        result = results[clip]
        assert isinstance(result, AnimationResult), result
        assert np.abs(result.frame_points - _solo("tiny", clip).frame_points).max() <= TOLERANCE_PX
        np.testing.assert_allclose(
            [row["total"] for row in result.loss_history],
            [row["total"] for row in _solo("tiny", clip).loss_history],
            rtol=1e-9,
        )


@pytest.mark.parametrize("prior_name", ["tiny", "analytic-causal"])
def test_a_batch_smaller_than_pad_to_is_padded_and_follows_its_solo_trajectories(prior_name):
    prior = _prior(prior_name)
    animators = [_animator(prior, clip) for clip in (0, 2)]
    calls = CallLog(prior)
    try:
        results = optimise_lockstep(animators, pad_to=3)
    finally:
        calls.restore()
    assert calls.denoise == [9, 9]  # 3 clips' samples although 2 clips run
    assert calls.encode == [4, 4]  # the encoder is not compiled, so not padded
    for clip, result in zip((0, 2), results):
        assert isinstance(result, AnimationResult), result
        assert np.abs(result.frame_points - _solo(prior_name, clip).frame_points).max() <= TOLERANCE_PX


def test_pad_to_below_the_batch_size_is_a_config_error():
    prior = _prior("analytic")
    with pytest.raises(ConfigError, match="pad_to 1 < the 2 clips"):
        optimise_lockstep([_animator(prior, 0), _animator(prior, 1)], pad_to=1)


def _stand_in(prior: object, **changes: object):
    """An object with exactly what `lockstep_key` reads, so every field can be varied alone."""
    from types import SimpleNamespace

    values = {
        "device": "cpu",
        "dtype": torch.float32,
        "iterations": 8,
        "step": 0,
        "frame_count": 24,
        "pose_count": 6,
        "render_size": 256,
        "flow_loss": True,
        **changes,
    }
    schedule = SimpleNamespace(frame_count=values["frame_count"], pose_count=values["pose_count"])
    config = SimpleNamespace(
        iterations=values["iterations"],
        schedule=schedule,
        render=SimpleNamespace(size=values["render_size"]),
        flow_loss=values["flow_loss"],
    )
    return SimpleNamespace(
        prior=prior,
        device=torch.device(values["device"]),
        dtype=values["dtype"],
        config=config,
        step_index=values["step"],
    )


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("device", {"device": "meta"}),
        ("dtype", {"dtype": torch.float64}),
        ("iterations", {"iterations": 9}),
        ("step", {"step": 3}),
        ("frame_count", {"frame_count": 12, "pose_count": 6}),
        ("pose_count", {"pose_count": 4}),
        ("render_size", {"render_size": 128}),
        ("flow_loss", {"flow_loss": False}),
    ],
)
def test_every_lockstep_field_alone_separates_two_clips(field, change):
    prior = object()
    key = dict(lockstep_key(_stand_in(prior)))
    changed = dict(lockstep_key(_stand_in(prior, **change)))
    assert [name for name in LOCKSTEP_FIELDS if key[name] != changed[name]] == [field]
    assert dict(lockstep_key(_stand_in(object())))["prior"] != key["prior"]
    assert key == {
        "prior": id(prior),
        "device": "cpu",
        "dtype": "float32",
        "iterations": 8,
        "step": 0,
        "frame_count": 24,
        "pose_count": 6,
        "render_size": 256,
        "flow_loss": True,
    }
