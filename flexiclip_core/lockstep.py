"""K clips optimised in lockstep: one prior call per iteration for all of them (docs/method.md §10).

A GPU runs the prior far from saturation at three guidance samples (issue 14: the UNet costs
61 / 36 / 31 ms per sample at batch 1 / 3 / 12), so a worker advances K clips together:

- per clip (meshes, renderers and augmentations differ): trajectories → ARAP → ODE → Poisson
  → bind → render → augment, and the Adam step with the clip's own optimizer and scheduler;
- shared: ONE encoder call over all clips' frames and ONE prior call over K×3 guidance samples
  (`score_distillation_clips`: per-clip t and ε from each clip's own generator, per-clip loss
  sums), and one backward over the K losses, whose graphs share only those per-sample calls.

Each clip therefore follows the trajectory it would follow alone (to the float reassociation of
batched kernels). Losses are read back every ``execution.report_every`` steps in one transfer;
a clip whose loss, or whose gradients, turned non-finite is dropped at that read-back with a
`FloatingPointError` naming its step, a clip whose own stages raise is dropped with that error,
and the others continue: the priors normalise and attend within each sample and the backward
keeps per-clip gradients apart, so a NaN clip cannot reach its batch-mates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from flexiclip_core.errors import ConfigError
from flexiclip_core.guidance.compile import compile_prior
from flexiclip_core.optimize import (
    AnimationResult,
    ClipAnimator,
    ExecutionConfig,
    StepReport,
    clip_losses,
)

__all__ = ["LOCKSTEP_FIELDS", "lockstep_key", "lockstep_step", "optimise_lockstep"]

LOCKSTEP_FIELDS: tuple[str, ...] = (
    "prior",
    "device",
    "dtype",
    "iterations",
    "step",
    "frame_count",
    "pose_count",
    "render_size",
    "flow_loss",
)
"""What clips sharing a batch must agree on, in `lockstep_key`'s order: the prior object, where
and in which geometry dtype they run, how many iterations and how far they are, and what fixes
the shapes of the shared calls (frames per video, frame size, videos per clip)."""


def lockstep_key(animator: ClipAnimator) -> tuple[tuple[str, Any], ...]:
    """Hashable; animators with equal keys can share a lockstep batch (pairs of `LOCKSTEP_FIELDS`).

    The prior is identified by object (``id``): clips share one loaded prior, never a copy.
    Everything else in the config (seed, prompt, learning rate, SDS settings, deformer) may differ.
    """
    config = animator.config
    values = (
        id(animator.prior),
        str(animator.device),
        str(animator.dtype).removeprefix("torch."),
        config.iterations,
        animator.step_index,
        config.schedule.frame_count,
        config.schedule.pose_count,
        config.render.size,
        config.flow_loss,
    )
    return tuple(zip(LOCKSTEP_FIELDS, values))


def _clip_name(animators: Sequence[ClipAnimator], index: int) -> str:
    """Clips are named by their position in ``animators`` (the caller maps it to its clip id)."""
    return f"lockstep clip {index} of {len(animators)}"


def _check_compatible(animators: Sequence[ClipAnimator]) -> None:
    """`ConfigError` naming the first field on which an animator differs from the first one."""
    reference = dict(lockstep_key(animators[0]))
    for index, animator in enumerate(animators[1:], start=1):
        for field, value in lockstep_key(animator):
            if value != reference[field]:
                shown = (
                    ("another prior object", "the first clip's")
                    if field == "prior"
                    else (repr(value), repr(reference[field]))
                )
                raise ConfigError(
                    f"lockstep: {_clip_name(animators, index)} cannot share a batch with "
                    f"{_clip_name(animators, 0)}: {field} differs ({shown[0]} vs {shown[1]})"
                )


Pending = list[tuple[int, Tensor, dict[str, Tensor], Tensor]]
"""A clip's steps not yet read back: (step, total, terms, max |gradient|), device tensors."""


def _gradient_max(animator: ClipAnimator) -> Tensor:
    """max |∂L/∂θ| over the clip's parameters (NaN or inf when any is), on the device, no sync."""
    gradients = [
        parameter.grad.detach()
        for module in animator.trainable_modules().values()
        for parameter in module.parameters()
        if parameter.grad is not None
    ]
    if not gradients:
        return torch.zeros((), device=animator.device)
    return torch.stack([gradient.abs().amax() for gradient in gradients]).amax().float()


def _row(total: Tensor, terms: dict[str, Tensor], gradient: Tensor) -> Tensor:
    """[2 + terms]: total, terms (promoted as `optimise` stacks them, so histories agree) and max |∂L/∂θ|."""
    losses = torch.stack([total, *terms.values()])
    return torch.cat([losses, gradient.to(losses.dtype).reshape(1)])


def _read_back(
    live: list[int],
    pending: dict[int, Pending],
    histories: dict[int, list[dict[str, float]]],
    on_step: Callable[[int, StepReport], None] | None,
    animators: Sequence[ClipAnimator],
) -> dict[int, FloatingPointError]:
    """Read every live clip's pending steps back in ONE transfer; record them; return the clips
    found non-finite (each with the error naming its first bad step)."""
    clips = [index for index in live if pending[index]]
    if not clips:
        return {}
    rows = (
        torch.stack([_row(total, terms, gradient) for index in clips for _, total, terms, gradient in pending[index]])
        .cpu()
        .tolist()
    )
    failures: dict[int, FloatingPointError] = {}
    cursor = 0
    for index in clips:
        entries = pending[index]
        names = list(entries[0][2])
        for step, *_ in entries:
            total, *values = rows[cursor]
            cursor += 1
            if index in failures:
                continue
            gradient = values.pop()
            report = StepReport(step, total, dict(zip(names, values)))
            histories[index].append({"step": float(step), "total": total, **report.terms})
            if not math.isfinite(total):
                failures[index] = FloatingPointError(
                    f"{_clip_name(animators, index)}: loss became {total} at step {step}"
                )
            elif not math.isfinite(gradient):
                failures[index] = FloatingPointError(
                    f"{_clip_name(animators, index)}: gradients became non-finite at step {step}"
                )
            elif on_step is not None:
                on_step(index, report)
        entries.clear()
    return failures


StepOutcome = tuple[Tensor, dict[str, Tensor], Tensor]
"""A clip's detached total, terms and max |∂L/∂θ| of one lockstep step (device tensors)."""


def lockstep_step(animators: Sequence[ClipAnimator], pad_to: int | None = None) -> list[StepOutcome | Exception]:
    """One iteration of K lockstep-compatible clips: forward (`clip_losses`, its prior call padded
    to ``pad_to`` clips when set), one backward over the K losses, each clip's own Adam step. No
    host sync. Element i: clip i's outcome, or the exception its own stages raised (it then takes
    no part in the step)."""
    for animator in animators:
        animator.optimizer.zero_grad(set_to_none=True)
    outcomes: list[StepOutcome | Exception | None] = []
    stepped: list[tuple[ClipAnimator, Tensor, dict[str, Tensor]]] = []
    for animator, outcome in zip(animators, clip_losses(animators, pad_to=pad_to)):
        if isinstance(outcome, Exception):
            outcomes.append(outcome)
        else:
            stepped.append((animator, *outcome))
            outcomes.append(None)  # filled after the backward
    if stepped:
        with stepped[0][0].stage_timer("backward"):
            # One backward over the K losses: each clip's parameters get ∂L_k/∂θ_k only.
            torch.autograd.backward([total for _, total, _ in stepped])
    results = iter(stepped)
    for position, slot in enumerate(outcomes):
        if isinstance(slot, Exception):
            continue
        animator, total, terms = next(results)
        try:
            gradient = _gradient_max(animator)
            with animator.stage_timer("adam"):
                animator.optimizer.step()
                animator.scheduler.step()
        except Exception as exc:  # noqa: BLE001 - this clip's own update failed: drop only this clip
            outcomes[position] = exc
            continue
        animator.step_index += 1
        outcomes[position] = (total.detach(), {name: value.detach() for name, value in terms.items()}, gradient)
    return [outcome for outcome in outcomes if outcome is not None]


def optimise_lockstep(
    animators: Sequence[ClipAnimator],
    *,
    execution: ExecutionConfig = ExecutionConfig(),
    on_step: Callable[[int, StepReport], None] | None = None,
    pad_to: int | None = None,
) -> list[AnimationResult | Exception]:
    """Run all remaining iterations of K lockstep-compatible clips together.

    Element i belongs to ``animators[i]``: its `AnimationResult` (K = 1: exactly `optimise`'s),
    or the exception that dropped it: `FloatingPointError` naming the step at which its loss or
    its gradients became non-finite, or what the clip's own geometry, render or loss raised.
    ``on_step(i, report)`` sees each clip's steps as they are read back (every
    ``execution.report_every`` steps and after the last). `ConfigError` when the animators do
    not share one prior or differ in a `LOCKSTEP_FIELDS` field; an error in the shared encoder
    or prior call belongs to no clip and is raised. Every result's ``seconds`` is the wall time
    of the whole lockstep run.

    ``pad_to``: every prior call carries ``pad_to`` clips' samples, also after clips drop out or
    when fewer clips start, so a compiled denoiser keeps one shape (padding slots are discarded
    copies; live clips' trajectories are unchanged). `ConfigError` when fewer than the animators.
    """
    if pad_to is not None and pad_to < max(len(animators), 1):
        raise ConfigError(f"lockstep: pad_to {pad_to} < the {len(animators)} clips of the batch (at least 1)")
    if not animators:
        return []
    _check_compatible(animators)
    prior = animators[0].prior
    if execution.compile_prior:
        compile_prior(prior, backend=execution.compile_backend)  # once per prior object
    started = time.perf_counter()
    outcomes: dict[int, AnimationResult | Exception] = {}
    histories: dict[int, list[dict[str, float]]] = {index: [] for index in range(len(animators))}
    pending: dict[int, Pending] = {index: [] for index in range(len(animators))}
    live = list(range(len(animators)))
    remaining = animators[0].config.iterations - animators[0].step_index
    for iteration in range(remaining):
        for index, outcome in zip(live, lockstep_step([animators[index] for index in live], pad_to=pad_to)):
            if isinstance(outcome, Exception):
                outcomes[index] = outcome
            else:
                pending[index].append((animators[index].step_index, *outcome))
        # A clip whose stages raised: a non-finite loss already pending is the root cause
        # (e.g. the NaN parameters it left make the renderer fail), reported as such.
        failed = [index for index in live if index in outcomes]
        for index in failed:
            cause = outcomes[index]
            found = _read_back([index], pending, histories, on_step, animators)
            if index in found and isinstance(cause, Exception):
                found[index].__cause__ = cause
                outcomes[index] = found[index]
        live = [index for index in live if index not in outcomes]
        if (iteration + 1) % execution.report_every == 0 or iteration == remaining - 1:
            for index, error in _read_back(live, pending, histories, on_step, animators).items():
                outcomes[index] = error
            live = [index for index in live if index not in outcomes]
        if not live:
            break
    seconds = time.perf_counter() - started
    for index in live:
        outcomes[index] = animators[index].result(histories[index], seconds)
    return [outcomes[index] for index in range(len(animators))]
