"""Clips in lockstep (placeholder): a sequential reference implementation of the lockstep contract.

PLACEHOLDER, replaced on merge by the real batched implementation (issue 14 item 2). It runs
each animator alone with `optimise`, so the pipeline side (``clips_per_worker``) can be built
and tested against the contract now:

- `optimise_lockstep` returns, for each animator in order, its `AnimationResult` or the
  exception that dropped it (`FloatingPointError` for a non-finite loss); the others finish.
- `lockstep_key`: animators with equal keys may share a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flexiclip_core.config import ExecutionConfig
from flexiclip_core.optimize import AnimationResult, ClipAnimator, StepReport, optimise


def optimise_lockstep(
    animators: Sequence[ClipAnimator],
    *,
    execution: ExecutionConfig = ExecutionConfig(),
    on_step: Callable[[int, StepReport], None] | None = None,
) -> list[AnimationResult | Exception]:
    """Optimise every animator; element i is animators[i]'s result or the exception that dropped it.

    ``on_step(i, report)`` sees animator i's steps.
    """
    results: list[AnimationResult | Exception] = []
    for index, animator in enumerate(animators):
        step_hook = None if on_step is None else (lambda report, i=index: on_step(i, report))
        try:
            results.append(optimise(animator, on_step=step_hook, execution=execution))
        except Exception as exc:  # noqa: BLE001 one clip's failure drops that clip only (the contract)
            results.append(exc)
    return results


def lockstep_key(animator: ClipAnimator) -> tuple:
    """Animators with equal keys may share a batch: same prior, iterations, frames, render size, preset."""
    config = animator.config
    return (
        id(animator.prior),
        int(config.iterations),
        int(config.schedule.frame_count),
        int(config.render.size),
        config.method,
    )
