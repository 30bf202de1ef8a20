"""The prior policy's one home (`choose_prior`): every case of ``auto`` and of an explicit spec,
and both of its callers (the driver's preflight, a worker handed ``auto``) asking it."""

from __future__ import annotations

from pathlib import Path

import pytest

import flexiclip_core.guidance.choice as choice
from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.guidance.choice import AUTO_PRIOR, PriorChoice, choose_prior


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Wan configured, no ModelScope weights: ``auto`` can only fall back to tiny."""
    monkeypatch.delenv("FLEXICLIP_WAN_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("FLEXICLIP_T2V_MODEL", str(tmp_path / "absent"))
    return tmp_path


def test_auto_without_weights_falls_back_to_tiny_with_the_reason(no_weights: Path):
    decided = choose_prior(AUTO_PRIOR)
    assert decided.spec == "tiny" and decided.fallback_reason and "absent" in decided.fallback_reason


def test_explicit_specs_are_checked_not_changed(no_weights: Path):
    assert choose_prior("tiny") == PriorChoice("tiny", None)
    assert choose_prior("wan-tiny") == PriorChoice("wan-tiny", None)
    with pytest.raises(ConfigError, match="prior 'sora': unknown; use auto, "):
        choose_prior("sora")
    with pytest.raises(PriorUnavailable):
        choose_prior("modelscope")  # FLEXICLIP_T2V_MODEL names a folder that is not there
    with pytest.raises(PriorUnavailable, match="not a directory"):
        choose_prior(f"modelscope:{no_weights / 'nothing'}")


def test_preflight_and_a_worker_handed_auto_ask_the_same_policy(no_weights: Path, monkeypatch: pytest.MonkeyPatch):
    from tasks.preflight import resolve_prior
    from tasks.worker import load_video_prior

    asked: list[str] = []

    def counting(spec: str) -> PriorChoice:
        asked.append(spec)
        return choose_prior(spec)

    monkeypatch.setattr(choice, "choose_prior", counting)
    assert resolve_prior(AUTO_PRIOR) == choose_prior(AUTO_PRIOR)
    prior, reason = load_video_prior(AUTO_PRIOR, "cpu")
    assert prior.name == "tiny" and reason == choose_prior(AUTO_PRIOR).fallback_reason
    load_video_prior("tiny", "cpu")  # a decided spec is loaded as is: the policy is not asked again
    assert asked == [AUTO_PRIOR, AUTO_PRIOR]
