"""How the N video frames map onto Q distinct poses (ping-pong loops), and tiling poses to frames."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flexiclip_core.errors import ConfigError


@dataclass(frozen=True)
class PoseSchedule:
    """Which pose each video frame shows (docs/method.md §6).

    With ``loop_count`` L > 0 there are Q = N / (2L) distinct poses at u = linspace(0, 1, Q), and
    each of the L loops plays them forward then backward, *including both turning points*:
    for N = 24, L = 2 the frames show poses ``0 1 2 3 4 5 5 4 3 2 1 0 0 1 2 3 4 5 5 4 3 2 1 0``.

    Turning points: every loop is the palindrome ``0..Q-1, Q-1..0`` (the reference's
    ``frames + frames[::-1]``), so the last pose and — across the loop seam and the GIF's wrap —
    the first pose are each held for two consecutive frames. Avoiding the holds is impossible
    with Q = N / (2L): a seamless ping-pong without repeats has period 2(Q - 1), which needs
    N = 2L(Q - 1) frames. The hold reads as a brief ease-in/out at the extremes.

    L = 0 gives N distinct poses played once, in order.

    ``hold_turns=False`` gives the seamless ping-pong instead, for video priors whose encoder
    needs N = 4k + 1 frames (a causal temporal VAE, docs/priors.md): each loop plays
    ``0..Q-1, Q-2..1`` (period 2(Q − 1), no held frames) and one closing frame returns to pose 0,
    so N = 2L(Q − 1) + 1: for N = 25, L = 2 there are Q = 7 poses
    ``0 1 2 3 4 5 6 5 4 3 2 1 0 1 2 3 4 5 6 5 4 3 2 1 0``.
    """

    frame_count: int = 24
    """N: frames in the video."""
    loop_count: int = 2
    """L: ping-pong loops; Q = N / (2L) distinct poses. 0 means N distinct poses, no looping."""
    fix_start: bool = True
    """Frame 0 (pose 0) is the rest pose: the trajectories' first control point stays at rest."""
    hold_turns: bool = True
    """Ping-pong with both turning points held (N = 2LQ); False: without holds plus a closing
    frame (N = 2L(Q − 1) + 1)."""

    def __post_init__(self) -> None:
        if isinstance(self.frame_count, bool) or not isinstance(self.frame_count, int) or self.frame_count < 1:
            raise ConfigError(f"frame_count must be a positive integer, got {self.frame_count!r}")
        if isinstance(self.loop_count, bool) or not isinstance(self.loop_count, int) or self.loop_count < 0:
            raise ConfigError(f"loop_count must be a non-negative integer, got {self.loop_count!r}")
        if self.loop_count > 0 and not self.hold_turns:
            if (self.frame_count - 1) % (2 * self.loop_count) != 0 or self.frame_count < 2 * self.loop_count + 1:
                raise ConfigError(
                    f"frame_count {self.frame_count} is not 2 × loop_count × (Q − 1) + 1 for any Q ≥ 2: "
                    "a ping-pong schedule without held turns needs N = 2·L·(Q−1) + 1 frames"
                )
        elif self.loop_count > 0 and self.frame_count % (2 * self.loop_count) != 0:
            raise ConfigError(
                f"frame_count {self.frame_count} is not divisible by 2 × loop_count "
                f"= {2 * self.loop_count}: a ping-pong schedule needs N = 2·L·Q frames"
            )

    @property
    def pose_count(self) -> int:
        """Q: distinct poses (N / (2L), or N when L = 0)."""
        if self.loop_count == 0:
            return self.frame_count
        if not self.hold_turns:
            return (self.frame_count - 1) // (2 * self.loop_count) + 1
        return self.frame_count // (2 * self.loop_count)

    def pose_times(self, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
        """Pose times u_q = linspace(0, 1, Q).  # [Q]"""
        return torch.linspace(0.0, 1.0, self.pose_count, dtype=dtype, device=device)

    def frame_to_pose(self, *, device: torch.device | str | None = None) -> Tensor:
        """Pose index shown by each frame (see the class docstring for the order).  # [N] int64"""
        if self.loop_count == 0:
            return torch.arange(self.frame_count, device=device)
        forward = torch.arange(self.pose_count, device=device)
        if not self.hold_turns:
            one_loop = torch.cat([forward, forward.flip(0)[1:-1]])
            return torch.cat([one_loop.repeat(self.loop_count), forward[:1]])
        one_loop = torch.cat([forward, forward.flip(0)])
        return one_loop.repeat(self.loop_count)


def tile_frames(pose_values: Tensor, schedule: PoseSchedule) -> Tensor:
    """Expand per-pose values to per-frame values with `PoseSchedule.frame_to_pose`.

    pose_values: Tensor  # [Q, ...]
    returns: Tensor      # [N, ...] (a differentiable gather; gradients add up over repeats)
    """
    if pose_values.ndim == 0 or pose_values.shape[0] != schedule.pose_count:
        raise ValueError(
            f"tile_frames: expected {schedule.pose_count} poses on dim 0, got shape {tuple(pose_values.shape)}"
        )
    return pose_values.index_select(0, schedule.frame_to_pose(device=pose_values.device))
