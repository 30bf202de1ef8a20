"""Keypoint trajectories: one cubic Bézier per keypoint whose control points are predicted by a
shared offset MLP (the MLP's weights are what trains), evaluated at the Q pose times
(docs/method.md §6)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from flexiclip_core.clipart import CANVAS_SIZE
from flexiclip_core.errors import ConfigError
from flexiclip_core.motion.schedule import PoseSchedule
from flexiclip_core.motion.seeding import seeded

logger = logging.getLogger(__name__)


def cubic_bezier_basis(times: Tensor) -> Tensor:
    """Cubic Bernstein weights at the given curve parameters.

    times: Tensor  # [T] in [0, 1]
    returns: Tensor  # [T, 4]; row t is ((1-t)³, 3(1-t)²t, 3(1-t)t², t³), exactly (1, 0, 0, 0) at t = 0
    """
    s = 1.0 - times
    return torch.stack([s**3, 3.0 * s**2 * times, 3.0 * s * times**2, times**3], dim=-1)


def bezier_basis(times: Tensor, degree: int) -> Tensor:
    """Bernstein weights of a Bézier curve of ``degree`` at the given curve parameters:
    C(d, i)·tⁱ·(1 − t)^(d − i), i = 0 … d (`cubic_bezier_basis` itself for degree 3).

    times: Tensor  # [T] in [0, 1]
    returns: Tensor  # [T, degree + 1]; row t sums to 1, exactly (1, 0, …, 0) at t = 0
    """
    if degree == 3:
        return cubic_bezier_basis(times)
    s = 1.0 - times
    return torch.stack([math.comb(degree, i) * times**i * s ** (degree - i) for i in range(degree + 1)], dim=-1)


def bezier_roughness_gram(degree: int) -> np.ndarray:
    """Gram matrix G of the Bernstein basis's second derivatives: G_ij = ∫₀¹ B_i''(t) B_j''(t) dt, so
    a curve with control points c [degree + 1, 2] has ∫₀¹ ‖x''(t)‖² dt = Σ_ij G_ij ⟨c_i, c_j⟩.

    Exact, in closed form: B'' = d(d − 1) · B^(d−2) Δ², with Δ² the second differences of the
    control points, and ∫ B_j^m B_k^m dt = C(m, j) C(m, k) / ((2m + 1) C(2m, j + k)). For the cubic
    G = 36 Δ²ᵀ [[1/3, 1/6], [1/6, 1/3]] Δ² (G_00 = 12, G_01 = −18, G_11 = 36, G_03 = 6). Zero for
    degree < 2 (a straight line has no curvature).

    returns: [degree + 1, degree + 1] float64, symmetric positive semi-definite, null space the
    control points of straight lines traversed at constant speed
    """
    if degree < 2:
        return np.zeros((degree + 1, degree + 1))
    inner = degree - 2
    mass = np.array(
        [
            [
                math.comb(inner, j) * math.comb(inner, k) / ((2 * inner + 1) * math.comb(2 * inner, j + k))
                for k in range(inner + 1)
            ]
            for j in range(inner + 1)
        ]
    )  # [d − 1, d − 1]
    second = np.zeros((inner + 1, degree + 1))  # Δ²: [d − 1, d + 1]
    for j in range(inner + 1):
        second[j, j : j + 3] = (1.0, -2.0, 1.0)
    return float(degree * (degree - 1)) ** 2 * second.T @ mass @ second


MAX_TRAJECTORY_DEGREE = 12
"""Highest trajectory degree a config may ask for: the Bernstein basis of a higher degree is
ill-conditioned in float32 (C(d, d/2) grows as 2^d) and no reference of N ≤ a few dozen poses needs it."""


@dataclass(frozen=True)
class TrajectoryConfig:
    """Keypoint trajectory model (docs/method.md §6)."""

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
    degree: int = 3
    """Degree of each keypoint's Bézier trajectory over the pose times: 3 (cubic) as in the papers,
    where a ping-pong schedule plays the curve out and back; higher where one curve must follow a
    reference over its whole duration (the video-fit preset, docs/method.md §13)."""
    seed: int | None = None
    """Seed for the jitter and the MLP's initial weights (a private stream, the global RNG is
    untouched); None draws from torch's global RNG, which the optimiser seeds."""

    def __post_init__(self) -> None:
        if self.hidden_width < 1 or self.hidden_layers < 1:
            raise ConfigError(f"trajectory MLP needs ≥ 1 hidden layer of width ≥ 1, got {self}")
        if not 1 <= self.degree <= MAX_TRAJECTORY_DEGREE:
            raise ConfigError(f"trajectory degree must be 1 … {MAX_TRAJECTORY_DEGREE}, got {self.degree}")
        if not (self.init_offset_px > 0 and math.isfinite(self.init_offset_px)):
            raise ConfigError(f"init_offset_px must be positive and finite, got {self.init_offset_px}")
        if not (self.offset_scale_px > 0 and math.isfinite(self.offset_scale_px)):
            raise ConfigError(f"offset_scale_px must be positive and finite, got {self.offset_scale_px}")


class KeypointTrajectories(nn.Module):
    """One Bézier trajectory per keypoint (cubic unless ``config.degree`` says otherwise), control
    points predicted by a shared MLP.

    The C = degree + 1 control points of every keypoint start at its rest position plus a jitter of at most
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

    rest_keypoints: Tensor  # buffers registered in __init__: [K, 2]
    base_control_points: Tensor  # [K, C, 2]
    movable_mask: Tensor  # [1, C, 1]
    normalised_input: Tensor  # [1, 2CK]
    pose_basis: Tensor  # [Q, C]

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

        # Control point 0 is pinned to rest under fix_start; all C move otherwise.
        control_count = config.degree + 1
        movable = torch.ones(control_count, dtype=dtype)
        if schedule.fix_start:
            movable[0] = 0.0
        # Per-coordinate bound b with √2·b = init_offset/2 keeps each part inside a disc of init_offset/2.
        coordinate_bound_px = config.init_offset_px / (2.0 * math.sqrt(2.0))
        half_canvas = CANVAS_SIZE / 2.0
        flat_size = keypoint_count * control_count * 2

        with seeded(config.seed):
            # Built on CPU so a seed gives the same initial state on every device.
            jitter = (torch.rand(keypoint_count, control_count, 2, dtype=dtype) * 2.0 - 1.0) * coordinate_bound_px
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
        self.register_buffer("base_control_points", base)  # [K, C, 2]
        self.register_buffer("movable_mask", movable.to(device)[None, :, None])  # [1, C, 1]
        self.register_buffer("normalised_input", (base / half_canvas - 1.0).reshape(1, flat_size))  # [1, 2CK]
        self.register_buffer(
            "pose_basis", bezier_basis(schedule.pose_times(dtype=dtype, device=device), config.degree)
        )  # [Q, C]
        logger.debug("KeypointTrajectories: %d keypoints, %d poses", keypoint_count, schedule.pose_count)

    @property
    def keypoint_count(self) -> int:
        """K: number of keypoints."""
        return int(self.rest_keypoints.shape[0])

    def control_points(self) -> Tensor:
        """Current Bézier control points in canvas px.  # [K, C, 2]"""
        offsets = self.offset_mlp(self.normalised_input).reshape(self.base_control_points.shape)
        return self.base_control_points + offsets * self.config.offset_scale_px * self.movable_mask

    def positions_at(self, times: Tensor) -> Tensor:
        """Keypoint positions at arbitrary curve parameters.

        times: Tensor  # [T] in [0, 1]
        returns: Tensor  # [T, K, 2] canvas px
        """
        basis = bezier_basis(times.to(self.base_control_points), self.config.degree)
        return torch.einsum("tc,kcd->tkd", basis, self.control_points())

    def forward(self) -> Tensor:
        """Keypoint positions at the Q pose times (pose 0 == rest exactly under fix_start).  # [Q, K, 2]"""
        return torch.einsum("qc,kcd->qkd", self.pose_basis, self.control_points())
