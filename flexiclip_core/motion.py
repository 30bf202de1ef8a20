"""Motion model (method.md §3): pose schedule, keypoint trajectories, temporal Jacobians.

Three pieces, all differentiable and batched:

- `PoseSchedule` — how the N video frames map onto Q distinct poses (ping-pong loops).
- `KeypointTrajectories` — one cubic Bézier per keypoint whose control points are predicted by a
  shared offset MLP (the MLP's weights are what trains); evaluated at the Q pose times.
- `TemporalJacobians` — FlexiClip's residual Jacobians J^R, integrated by a fixed-step ODE over
  pose time whose rate network reads causal attention encodings of the pose-Jacobian window and
  of the residuals so far. J^R(0) = 0 exactly; the final per-face Jacobians are J = J^P + J^R.

Nothing here is detached: gradients flow from J^R into both attention encoders, the rate MLP and
back into the pose Jacobians (hence into the trajectory MLP).
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional

from .clipart import CANVAS_SIZE
from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "PoseSchedule",
    "TrajectoryConfig",
    "KeypointTrajectories",
    "TemporalConfig",
    "TemporalJacobians",
    "cubic_bezier_basis",
    "tile_frames",
]


# --------------------------------------------------------------------------------------------
# Pose schedule
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseSchedule:
    """Which pose each video frame shows (method.md §3 "Frames").

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


# --------------------------------------------------------------------------------------------
# Keypoint trajectories
# --------------------------------------------------------------------------------------------


def cubic_bezier_basis(times: Tensor) -> Tensor:
    """Cubic Bernstein weights at the given curve parameters.

    times: Tensor  # [T] in [0, 1]
    returns: Tensor  # [T, 4]; row t is ((1-t)³, 3(1-t)²t, 3(1-t)t², t³), exactly (1, 0, 0, 0) at t = 0
    """
    s = 1.0 - times
    return torch.stack([s**3, 3.0 * s**2 * times, 3.0 * s * times**2, times**3], dim=-1)


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Draw initial values from a private CPU RNG stream when a seed is given (no global side effect)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class TrajectoryConfig:
    """Keypoint trajectory model (method.md §3 "Trajectories")."""

    hidden_width: int = 128
    """Width of the offset MLP's hidden layers."""
    hidden_layers: int = 4
    """Hidden linear layers (each followed by LayerNorm + LeakyReLU) before the linear head."""
    negative_slope: float = 0.01
    """LeakyReLU slope for negative inputs."""
    init_offset_px: float = 0.01
    """At initialisation every movable control point lies within this distance (canvas px) of
    its keypoint's rest position: half of it is a random jitter of the MLP's input, half the
    bound on the MLP's initial output."""
    offset_scale_px: float = 32.0
    """Canvas px per unit of MLP output. One full-rate Adam step changes an output by about
    lr · Σ|h| ≈ 0.5 units, so this bounds how far a keypoint can jump per step: at 128 px (the
    input's own normalisation) early steps moved keypoints by tens of px and threw thin parts
    (wrists, tails) out of reach of the image gradient; 32 px keeps steps a few px."""
    seed: int | None = None
    """Seed for the jitter and the MLP's initial weights (a private stream, the global RNG is
    untouched); None draws from torch's global RNG, which the optimiser seeds."""

    def __post_init__(self) -> None:
        if self.hidden_width < 1 or self.hidden_layers < 1:
            raise ConfigError(f"trajectory MLP needs ≥ 1 hidden layer of width ≥ 1, got {self}")
        if not (self.init_offset_px > 0 and math.isfinite(self.init_offset_px)):
            raise ConfigError(f"init_offset_px must be positive and finite, got {self.init_offset_px}")
        if not (self.offset_scale_px > 0 and math.isfinite(self.offset_scale_px)):
            raise ConfigError(f"offset_scale_px must be positive and finite, got {self.offset_scale_px}")


class KeypointTrajectories(nn.Module):
    """One cubic Bézier trajectory per keypoint, control points predicted by a shared MLP.

    The four control points of every keypoint start at its rest position plus a jitter of at most
    ``init_offset_px / 2`` (the first control point is exactly the rest position when
    ``schedule.fix_start``). The MLP reads all of them at once — normalised to [−1, 1] and
    flattened, so it couples the keypoints — and predicts an offset for each; the trained control
    points are ``base + offset_scale_px · MLP(normalised base)``, with the first control point's
    offset masked to zero under ``fix_start``.

    The head's weights start small but non-zero (|initial offset| ≤ init_offset_px / 2, proven
    from the LayerNorm bound ‖h‖₁ ≤ width), so every layer receives gradient at the first step
    and Adam grows the head quickly; a zero head would starve the hidden layers at step one.

    Parameters follow ``rest_keypoints``' dtype and device.
    """

    def __init__(
        self,
        rest_keypoints: Tensor,  # [K, 2] canvas px
        schedule: PoseSchedule = PoseSchedule(),
        config: TrajectoryConfig = TrajectoryConfig(),
    ) -> None:
        super().__init__()
        if rest_keypoints.ndim != 2 or rest_keypoints.shape[1] != 2 or rest_keypoints.shape[0] == 0:
            raise ValueError(f"rest_keypoints must be [K ≥ 1, 2], got shape {tuple(rest_keypoints.shape)}")
        if not rest_keypoints.is_floating_point():
            raise ValueError(f"rest_keypoints must be floating point, got {rest_keypoints.dtype}")
        if not bool(torch.isfinite(rest_keypoints).all()):
            raise ValueError("rest_keypoints contain NaN or infinite coordinates")
        self.schedule = schedule
        self.config = config
        dtype, device = rest_keypoints.dtype, rest_keypoints.device
        keypoint_count = rest_keypoints.shape[0]
        rest = rest_keypoints.detach().clone()

        # Control point 0 is pinned to rest under fix_start; all four move otherwise.
        movable = torch.ones(4, dtype=dtype)
        if schedule.fix_start:
            movable[0] = 0.0
        # Per-coordinate bound b with √2·b = init_offset/2 keeps each part inside a disc of init_offset/2.
        coordinate_bound_px = config.init_offset_px / (2.0 * math.sqrt(2.0))
        half_canvas = CANVAS_SIZE / 2.0
        flat_size = keypoint_count * 4 * 2

        with _seeded(config.seed):
            # Built on CPU so a seed gives the same initial state on every device.
            jitter = (torch.rand(keypoint_count, 4, 2, dtype=dtype) * 2.0 - 1.0) * coordinate_bound_px
            layers: list[nn.Module] = []
            in_size = flat_size
            for _ in range(config.hidden_layers):
                layers += [
                    nn.Linear(in_size, config.hidden_width, dtype=dtype),
                    nn.LayerNorm(config.hidden_width, dtype=dtype),
                    nn.LeakyReLU(config.negative_slope),
                ]
                in_size = config.hidden_width
            head = nn.Linear(config.hidden_width, flat_size, dtype=dtype)
            # |out| ≤ a·‖h‖₁ ≤ a·width (LayerNorm output has ‖·‖₂ ≤ √width, LeakyReLU shrinks it).
            head_bound = coordinate_bound_px / config.offset_scale_px / config.hidden_width
            with torch.no_grad():
                head.weight.uniform_(-head_bound, head_bound)
                head.bias.zero_()
            layers.append(head)
            self.offset_mlp = nn.Sequential(*layers).to(device)

        base = rest[:, None, :] + jitter.to(device) * movable.to(device)[None, :, None]
        self.register_buffer("rest_keypoints", rest)  # [K, 2]
        self.register_buffer("base_control_points", base)  # [K, 4, 2]
        self.register_buffer("movable_mask", movable.to(device)[None, :, None])  # [1, 4, 1]
        self.register_buffer("normalised_input", (base / half_canvas - 1.0).reshape(1, flat_size))  # [1, 8K]
        self.register_buffer("pose_basis", cubic_bezier_basis(schedule.pose_times(dtype=dtype, device=device)))  # [Q, 4]
        logger.debug("KeypointTrajectories: %d keypoints, %d poses", keypoint_count, schedule.pose_count)

    @property
    def keypoint_count(self) -> int:
        """K: number of keypoints."""
        return int(self.rest_keypoints.shape[0])

    def control_points(self) -> Tensor:
        """Current Bézier control points in canvas px.  # [K, 4, 2]"""
        offsets = self.offset_mlp(self.normalised_input).reshape(self.base_control_points.shape)
        return self.base_control_points + offsets * self.config.offset_scale_px * self.movable_mask

    def positions_at(self, times: Tensor) -> Tensor:
        """Keypoint positions at arbitrary curve parameters.

        times: Tensor  # [T] in [0, 1]
        returns: Tensor  # [T, K, 2] canvas px
        """
        basis = cubic_bezier_basis(times.to(self.base_control_points))
        return torch.einsum("tc,kcd->tkd", basis, self.control_points())

    def forward(self) -> Tensor:
        """Keypoint positions at the Q pose times (pose 0 == rest exactly under fix_start).  # [Q, K, 2]"""
        return torch.einsum("qc,kcd->qkd", self.pose_basis, self.control_points())


# --------------------------------------------------------------------------------------------
# Temporal Jacobians
# --------------------------------------------------------------------------------------------


Solver = Literal["euler", "heun", "rk4"]


@dataclass(frozen=True)
class TemporalConfig:
    """FlexiClip's temporal Jacobian module (method.md §3 "Temporal Jacobians")."""

    attention_heads: int = 2
    """Heads of each one-layer transformer encoder (C^P and C^R)."""
    key_size: int = 32
    """Key/value size per head; the encoders' model width is heads × key_size (64)."""
    feedforward_width: int = 128
    """Hidden width of each encoder's feed-forward block."""
    time_frequencies: int = 4
    """Sinusoidal time features sin/cos(2^j π t), j < this, plus t itself, added to every token
    and to the rate MLP's input (they also keep the C^R encoder trainable while J^R = 0)."""
    rate_hidden: int = 64
    """Hidden width of the 3-layer rate MLP f_θ."""
    rate_init_scale: float = 1e-3
    """The rate MLP's output layer starts at this times PyTorch's default init (bias zero):
    J^R starts tiny but non-zero, so every upstream parameter gets gradient at step one."""
    solver: Solver = "euler"
    """Fixed-step scan over the pose grid (step h = 1 / (Q − 1)), method.md's "Euler/RK4 scan".
    "euler" (default): R_{k+1} = R_k + h f(t_k, R_k) — one rate evaluation per step; J^R at pose
    q reads J^P up to pose q − 1 (the final Jacobian J^P_q + J^R_q still holds J^P_q). "heun":
    trapezoidal predictor–corrector whose second stage sits on the next grid pose (exact on the
    grid, sees J^P_{k+1}) at two evaluations per step: measured 9% slower per optimisation
    iteration on the sample human (its residual encoder runs 2(Q − 1) times instead of Q − 1);
    the rate network is learned on this very grid, so there is no true field for the extra
    stage to track more closely. "rk4": classic Runge–Kutta; its half-step stages read J^P
    linearly interpolated between poses k and k + 1 (four evaluations)."""
    seed: int | None = None
    """Seed for the initial weights (private stream); None uses torch's global RNG."""

    def __post_init__(self) -> None:
        if min(self.attention_heads, self.key_size, self.feedforward_width, self.rate_hidden) < 1:
            raise ConfigError(f"temporal module sizes must be positive, got {self}")
        if self.time_frequencies < 0:
            raise ConfigError(f"time_frequencies must be ≥ 0, got {self.time_frequencies}")
        if not (self.rate_init_scale > 0 and math.isfinite(self.rate_init_scale)):
            raise ConfigError(f"rate_init_scale must be positive and finite, got {self.rate_init_scale}")
        if self.solver not in ("euler", "heun", "rk4"):
            raise ConfigError(f"solver must be 'euler', 'heun' or 'rk4', got {self.solver!r}")


def _time_features(times: Tensor, frequencies: int) -> Tensor:
    """[t, sin(2^j π t), cos(2^j π t)] for j < frequencies.  times [...] → [..., 1 + 2·frequencies]"""
    scales = math.pi * 2.0 ** torch.arange(frequencies, dtype=times.dtype, device=times.device)
    angles = times[..., None] * scales
    return torch.cat([times[..., None], torch.sin(angles), torch.cos(angles)], dim=-1)


class _CausalEncoder(nn.Module):
    """One post-LayerNorm transformer layer read causally, one query token at a time.

    The sequence is per face (faces are the batch). A query at time t attends to the cached
    keys/values of the window before t plus its own, which equals the output at the last position
    of a causally masked encoder over that window.
    """

    def __init__(self, input_size: int, time_size: int, config: TemporalConfig, dtype: torch.dtype) -> None:
        super().__init__()
        width = config.attention_heads * config.key_size
        self.heads = config.attention_heads
        self.key_size = config.key_size
        self.embed = nn.Linear(input_size + time_size, width, dtype=dtype)
        self.query = nn.Linear(width, width, dtype=dtype)
        self.key = nn.Linear(width, width, dtype=dtype)
        self.value = nn.Linear(width, width, dtype=dtype)
        self.attention_out = nn.Linear(width, width, dtype=dtype)
        self.attention_norm = nn.LayerNorm(width, dtype=dtype)
        self.feedforward = nn.Sequential(
            nn.Linear(width, config.feedforward_width, dtype=dtype),
            nn.GELU(),
            nn.Linear(config.feedforward_width, width, dtype=dtype),
        )
        self.feedforward_norm = nn.LayerNorm(width, dtype=dtype)

    def tokens(self, values: Tensor, time_features: Tensor) -> Tensor:
        """embed([values, time_features]): values [..., F, S], time_features [..., T] shared by all
        faces → tokens [..., F, width]. The time part is embedded once, not once per face."""
        value_size = values.shape[-1]
        time_term = functional.linear(time_features, self.embed.weight[:, value_size:], self.embed.bias)
        return functional.linear(values, self.embed.weight[:, :value_size]) + time_term[..., None, :]

    def keys_values(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """tokens [..., F, width] → keys, values [..., F, heads, key_size]"""
        split = (*tokens.shape[:-1], self.heads, self.key_size)
        return self.key(tokens).reshape(split), self.value(tokens).reshape(split)

    def encode_causal(self, tokens: Tensor) -> Tensor:
        """Causally masked encoding of a whole sequence in one batched call.

        tokens: [S, F, width] → [S, F, width]; output s equals `read` of the window 0..s (masked
        scores are −inf, so later positions contribute exact zeros).
        """
        length, faces = tokens.shape[:2]
        keys, values = self.keys_values(tokens)  # [S, F, H, D]
        queries = self.query(tokens).reshape(length, faces, self.heads, self.key_size)
        # Broadcast products, not einsum: bmm on F·H tiny matrices is several times slower on CPU.
        scores = (queries[:, None] * keys[None]).sum(-1) / math.sqrt(self.key_size)  # [S, N, F, H]
        future = torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)[:, :, None, None]
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=1)
        attended = (weights[..., None] * values[None]).sum(1).reshape(length, faces, -1)
        hidden = self.attention_norm(tokens + self.attention_out(attended))
        return self.feedforward_norm(hidden + self.feedforward(hidden))

    def read(self, token: Tensor, window_keys: Tensor, window_values: Tensor) -> Tensor:
        """Encoding of a window ending at `token`.

        token: [F, width]; window_keys/values: [n, F, heads, key_size] — the window *including*
        the token's own key/value as its last entry. Returns [F, width].
        """
        faces = token.shape[0]
        query = self.query(token).reshape(faces, self.heads, self.key_size)
        scores = (window_keys * query).sum(-1) / math.sqrt(self.key_size)  # [n, F, H]
        weights = torch.softmax(scores, dim=0)
        attended = (weights[..., None] * window_values).sum(0).reshape(faces, -1)
        hidden = self.attention_norm(token + self.attention_out(attended))
        return self.feedforward_norm(hidden + self.feedforward(hidden))

    def read_with_self(self, token: Tensor, past_keys: Tensor, past_values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Encode `token` [F, width] after a past window [n, F, heads, key_size] (n may be 0).

        Returns (encoding [F, width], token key, token value [F, heads, key_size]).
        """
        key, value = self.keys_values(token)
        encoding = self.read(token, torch.cat([past_keys, key[None]]), torch.cat([past_values, value[None]]))
        return encoding, key, value


class TemporalJacobians(nn.Module):
    """Residual Jacobians J^R over pose time (method.md §3, FlexiClip's temporal module).

    dJ^R/dt = f_θ(J^P_0 − I, C^P(t), C^R(t), t), J^R(0) = 0, integrated with a fixed-step scan on
    the pose grid t = linspace(0, 1, Q).

    - C^P(t): a one-layer transformer (2 heads, key/value size 32) over each face's sequence of
      flattened pose Jacobians *minus the identity* (so the rest pose reads as zeros and the
      tokens are centred), with time features; causal: it attends to poses at times ≤ t only.
    - C^R(t): a separate encoder of the same kind over the residuals so far (grid residuals at
      times < t plus the current state).
    - f_θ: a 3-layer MLP (SiLU, smooth for the ODE) with a small non-zero output layer.

    Faces are the batch dimension throughout; there is no per-face loop. J^R at pose q depends on
    J^P at poses ≤ q only (Euler: < q). Parameters are created with ``dtype``/``device``; inputs
    must match them (call ``.to`` to move the module).

    Cost: F = 2936 faces and Q = 6 poses, forward + backward on two CPU threads, measured
    160 ms with the default Euler scan and 210 ms with Heun (the residual encoder runs Q − 1
    or 2(Q − 1) times over all faces, the pose encoder once); on a GPU it is a few hundred
    small kernels.
    """

    def __init__(
        self,
        schedule: PoseSchedule = PoseSchedule(),
        config: TemporalConfig = TemporalConfig(),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.schedule = schedule
        self.config = config
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        time_size = 1 + 2 * config.time_frequencies
        width = config.attention_heads * config.key_size
        with _seeded(config.seed):
            self.pose_encoder = _CausalEncoder(4, time_size, config, dtype)
            self.residual_encoder = _CausalEncoder(4, time_size, config, dtype)
            self.rate = nn.Sequential(
                nn.Linear(4 + 2 * width + time_size, config.rate_hidden, dtype=dtype),
                nn.SiLU(),
                nn.Linear(config.rate_hidden, config.rate_hidden, dtype=dtype),
                nn.SiLU(),
                nn.Linear(config.rate_hidden, 4, dtype=dtype),
            )
            with torch.no_grad():
                self.rate[-1].weight.mul_(config.rate_init_scale)
                self.rate[-1].bias.zero_()
        if device is not None:
            self.to(device)

    def forward(self, pose_jacobians: Tensor) -> Tensor:
        """pose_jacobians: J^P  # [Q, F, 2, 2] → residual Jacobians J^R  # [Q, F, 2, 2], J^R[0] == 0"""
        pose_count = self.schedule.pose_count
        if pose_jacobians.ndim != 4 or pose_jacobians.shape[0] != pose_count or pose_jacobians.shape[2:] != (2, 2):
            raise ValueError(
                f"pose_jacobians must be [Q={pose_count}, F, 2, 2], got shape {tuple(pose_jacobians.shape)}"
            )
        reference = self.rate[0].weight
        if pose_jacobians.dtype != reference.dtype or pose_jacobians.device != reference.device:
            raise ValueError(
                f"pose_jacobians are {pose_jacobians.dtype} on {pose_jacobians.device} but TemporalJacobians "
                f"parameters are {reference.dtype} on {reference.device}: move the module with .to()"
            )
        face_count = pose_jacobians.shape[1]
        dtype, device = pose_jacobians.dtype, pose_jacobians.device
        zero_residual = torch.zeros(face_count, 4, dtype=dtype, device=device)
        if pose_count == 1:
            return zero_residual.reshape(1, face_count, 2, 2)

        frequencies = self.config.time_frequencies
        times = self.schedule.pose_times(dtype=dtype, device=device)  # [Q]
        identity = torch.eye(2, dtype=dtype, device=device).reshape(1, 1, 4)
        pose_features = pose_jacobians.reshape(pose_count, face_count, 4) - identity  # [Q, F, 4]
        rest_pose_feature = pose_features[0]  # J^P_0 − I, [F, 4]

        pose_tokens = self.pose_encoder.tokens(pose_features, _time_features(times, frequencies))  # [Q, F, W]
        pose_contexts = self.pose_encoder.encode_causal(pose_tokens)  # C^P at the grid poses, [Q, F, W]

        # f_θ(x) = rate(cat[J^P_0 − I, C^P, C^R, time]); its first layer is split by input block so
        # the parts that do not depend on the ODE state are computed once per forward.
        width = pose_tokens.shape[-1]
        first_layer, rate_tail = self.rate[0], self.rate[1:]
        time_size = first_layer.in_features - 4 - 2 * width
        rest_weight, pose_weight, residual_weight, time_weight = first_layer.weight.split(
            [4, width, width, time_size], dim=1
        )
        rest_term = functional.linear(rest_pose_feature, rest_weight, first_layer.bias)  # [F, hidden]
        pose_terms = functional.linear(pose_contexts, pose_weight)  # [Q, F, hidden]

        def rate(pose_term: Tensor, residual_context: Tensor, time: Tensor) -> Tensor:
            time_term = functional.linear(_time_features(time, frequencies), time_weight)  # [hidden]
            return rate_tail(rest_term + pose_term + functional.linear(residual_context, residual_weight) + time_term)

        def residual_context(state: Tensor, time: Tensor, past_keys: Tensor, past_values: Tensor):
            token = self.residual_encoder.tokens(state, _time_features(time, frequencies))
            return self.residual_encoder.read_with_self(token, past_keys, past_values)

        empty = pose_tokens.new_zeros((0, face_count, self.config.attention_heads, width // self.config.attention_heads))
        residual_keys, residual_values = empty, empty  # grid residuals at times < current
        residual = zero_residual
        residuals = [zero_residual]
        solver = self.config.solver
        if solver == "rk4":
            pose_keys, pose_values = self.pose_encoder.keys_values(pose_tokens)  # for the half-step windows
        for k in range(pose_count - 1):
            t_k, t_next = times[k], times[k + 1]
            step = t_next - t_k
            context, key_k, value_k = residual_context(residual, t_k, residual_keys, residual_values)
            rate_start = rate(pose_terms[k], context, t_k)
            # The grid residual R_k joins the history before any later stage reads it.
            residual_keys = torch.cat([residual_keys, key_k[None]])
            residual_values = torch.cat([residual_values, value_k[None]])
            if solver == "euler":
                residual = residual + step * rate_start
            elif solver == "heun":
                predicted = residual + step * rate_start
                context, _, _ = residual_context(predicted, t_next, residual_keys, residual_values)
                rate_end = rate(pose_terms[k + 1], context, t_next)
                residual = residual + 0.5 * step * (rate_start + rate_end)
            else:
                t_mid = t_k + 0.5 * step
                pose_mid = 0.5 * (pose_features[k] + pose_features[k + 1])
                token_mid = self.pose_encoder.tokens(pose_mid, _time_features(t_mid, frequencies))
                pose_context_mid, _, _ = self.pose_encoder.read_with_self(
                    token_mid, pose_keys[: k + 1], pose_values[: k + 1]
                )
                pose_term_mid = functional.linear(pose_context_mid, pose_weight)
                context, _, _ = residual_context(residual + 0.5 * step * rate_start, t_mid, residual_keys, residual_values)
                rate_2 = rate(pose_term_mid, context, t_mid)
                context, _, _ = residual_context(residual + 0.5 * step * rate_2, t_mid, residual_keys, residual_values)
                rate_3 = rate(pose_term_mid, context, t_mid)
                context, _, _ = residual_context(residual + step * rate_3, t_next, residual_keys, residual_values)
                rate_4 = rate(pose_terms[k + 1], context, t_next)
                residual = residual + step / 6.0 * (rate_start + 2.0 * rate_2 + 2.0 * rate_3 + rate_4)
            residuals.append(residual)
        return torch.stack(residuals).reshape(pose_count, face_count, 2, 2)
