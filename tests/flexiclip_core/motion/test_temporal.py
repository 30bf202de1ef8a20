"""Temporal Jacobians (the residual ODE with causal attention)."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.motion import (
    KeypointTrajectories,
    PoseSchedule,
    TemporalConfig,
    TemporalJacobians,
)
from tests.flexiclip_core.motion.poses import STAR_FACES, STAR_KEYPOINTS, face_jacobians, random_pose_jacobians


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_residuals_are_exactly_zero_at_the_first_pose_and_small_at_init(solver):
    torch.manual_seed(5)
    module = TemporalJacobians(PoseSchedule(), TemporalConfig(solver=solver), dtype=torch.float64)
    pose_jacobians = random_pose_jacobians(6, 40)
    with torch.no_grad():
        residuals = module(pose_jacobians)
    assert residuals.shape == (6, 40, 2, 2)
    assert residuals.dtype == torch.float64
    assert torch.equal(residuals[0], torch.zeros(40, 2, 2, dtype=torch.float64))
    assert bool((residuals[1:] != 0).any())
    assert float(residuals.abs().max()) < 0.05


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_every_parameter_of_trajectories_and_temporal_module_gets_gradient_in_one_step(solver):
    torch.manual_seed(6)
    schedule = PoseSchedule()
    trajectories = KeypointTrajectories(STAR_KEYPOINTS, schedule)
    temporal = TemporalJacobians(schedule, TemporalConfig(solver=solver))
    positions = trajectories()
    pose_jacobians = face_jacobians(positions, STAR_KEYPOINTS, STAR_FACES)
    residuals = temporal(pose_jacobians)
    weights = torch.randn(residuals.shape, generator=torch.Generator().manual_seed(1))
    loss = (weights * (pose_jacobians + residuals)).sum() + positions.square().mean()
    loss.backward()
    named = [("trajectories." + n, p) for n, p in trajectories.named_parameters()]
    named += [("temporal." + n, p) for n, p in temporal.named_parameters()]
    assert any(n.startswith("temporal.pose_encoder.") for n, _ in named)
    assert any(n.startswith("temporal.residual_encoder.") for n, _ in named)
    assert any(n.startswith("temporal.rate.") for n, _ in named)
    starved = [n for n, p in named if p.grad is None or not bool((p.grad != 0).any())]
    assert starved == []


def test_residual_encoder_trains_from_the_residual_path_alone():
    # A loss on J^R only, with J^P ≡ I: the encoders read only zeros from the Jacobians at the
    # start, yet time features and bias paths must still carry gradient into every weight.
    torch.manual_seed(8)
    temporal = TemporalJacobians(PoseSchedule(), dtype=torch.float64)
    pose_jacobians = torch.eye(2, dtype=torch.float64).expand(6, 30, 2, 2).clone()
    residuals = temporal(pose_jacobians)
    residuals.sum().backward()
    starved = [n for n, p in temporal.named_parameters() if p.grad is None or not bool((p.grad != 0).any())]
    # With J^P − I ≡ 0 the pose encoder's input weights see only zeros in the Jacobian columns,
    # but each whole parameter tensor still receives gradient through the time columns.
    assert starved == []


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_causal_window_later_poses_do_not_change_earlier_residuals(solver):
    torch.manual_seed(9)
    module = TemporalJacobians(PoseSchedule(), TemporalConfig(solver=solver), dtype=torch.float64)
    pose_jacobians = random_pose_jacobians(6, 25)
    changed = pose_jacobians.clone()
    changed[3] += 0.7
    original, perturbed = module(pose_jacobians), module(changed)
    assert torch.equal(original[:3], perturbed[:3])
    # Heun and RK4 read J^P at the step's end, Euler only at the step's start.
    first_changed = 4 if solver == "euler" else 3
    assert not torch.allclose(original[first_changed], perturbed[first_changed])


def test_batched_over_faces_equals_face_by_face():
    torch.manual_seed(10)
    module = TemporalJacobians(PoseSchedule(), dtype=torch.float64)
    pose_jacobians = random_pose_jacobians(6, 7, seed=2)
    batched = module(pose_jacobians)
    single = torch.cat([module(pose_jacobians[:, f : f + 1]) for f in range(7)], dim=1)
    assert torch.allclose(batched, single, rtol=0, atol=1e-13)


def test_solvers_integrate_the_same_field_and_converge_on_a_fine_grid():
    # Same weights, three solvers: on a fine pose grid (Q = 21) the solutions agree closely; the
    # higher-order ones agree with each other better than with Euler.
    config = TemporalConfig(rate_init_scale=1.0, seed=3)
    schedule = PoseSchedule(frame_count=21, loop_count=0)
    modules = {
        name: TemporalJacobians(schedule, replace(config, solver=name), dtype=torch.float64)
        for name in ("euler", "heun", "rk4")
    }
    for module in modules.values():
        module.load_state_dict(modules["euler"].state_dict())
    # A smooth pose path: J^P(t) = I + t·A.
    times = schedule.pose_times(dtype=torch.float64)
    direction = 0.5 * torch.randn(12, 2, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    pose_jacobians = torch.eye(2, dtype=torch.float64) + times[:, None, None, None] * direction
    with torch.no_grad():
        results = {name: module(pose_jacobians)[-1] for name, module in modules.items()}
    scale = results["rk4"].norm()
    assert float(scale) > 1e-3
    heun_rk4 = float((results["heun"] - results["rk4"]).norm() / scale)
    euler_rk4 = float((results["euler"] - results["rk4"]).norm() / scale)
    assert heun_rk4 < euler_rk4 < 0.2
    assert heun_rk4 > 0.0


def test_batched_causal_encoding_equals_step_by_step_reads():
    torch.manual_seed(13)
    encoder = TemporalJacobians(PoseSchedule(), dtype=torch.float64).pose_encoder
    tokens = torch.randn(6, 9, 64, dtype=torch.float64)
    batched = encoder.encode_causal(tokens)
    keys, values = encoder.keys_values(tokens)
    for s in range(6):
        stepwise = encoder.read(tokens[s], keys[: s + 1], values[: s + 1])
        assert torch.allclose(batched[s], stepwise, rtol=0, atol=1e-12)


def test_temporal_module_checks_shapes_dtype_and_single_pose():
    module = TemporalJacobians(PoseSchedule())
    with pytest.raises(ValueError, match="Q=6"):
        module(torch.zeros(5, 3, 2, 2))
    with pytest.raises(ValueError, match="float64"):
        module(torch.zeros(6, 3, 2, 2, dtype=torch.float64))
    still = TemporalJacobians(PoseSchedule(frame_count=2, loop_count=1))
    assert torch.equal(still(torch.eye(2).expand(1, 4, 2, 2)), torch.zeros(1, 4, 2, 2))
    with pytest.raises(ConfigError):
        TemporalConfig(solver="dopri5")  # type: ignore[arg-type]


def test_module_moved_with_to_follows_dtype():
    module = TemporalJacobians(PoseSchedule()).to(torch.float64)
    residuals = module(random_pose_jacobians(6, 5))
    assert residuals.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    torch.manual_seed(12)
    module = TemporalJacobians(PoseSchedule(), dtype=torch.float64)
    pose_jacobians = random_pose_jacobians(6, 50)
    cpu = module(pose_jacobians)
    gpu = module.to("cuda")(pose_jacobians.cuda())
    assert gpu.device.type == "cuda"
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-10)
    trajectories = KeypointTrajectories(STAR_KEYPOINTS.cuda())
    assert trajectories().device.type == "cuda"


# ---------------------------------------------------------------------------- benchmark


def benchmark_temporal_forward_backward(
    face_count: int = 3000, solver: str = "heun", repeats: int = 10
) -> tuple[float, float, float]:
    """Best-of-`repeats` seconds of TemporalJacobians on CPU, float32, Q = 6. Not a test.

    Returns (forward CPU s, backward CPU s, forward+backward wall s). CPU time (process time) is
    what one core spends; on a shared, loaded machine the wall time is several times larger.
    """
    torch.manual_seed(0)
    module = TemporalJacobians(PoseSchedule(), TemporalConfig(solver=solver))
    pose_jacobians = random_pose_jacobians(6, face_count, dtype=torch.float32).requires_grad_()
    for _ in range(2):
        module(pose_jacobians).sum().backward()
    best_forward = best_backward = best_wall = math.inf
    for _ in range(repeats):
        module.zero_grad()
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        loss = module(pose_jacobians).square().sum()
        cpu_middle = time.process_time()
        loss.backward()
        cpu_end, wall_end = time.process_time(), time.perf_counter()
        best_forward = min(best_forward, cpu_middle - cpu_start)
        best_backward = min(best_backward, cpu_end - cpu_middle)
        best_wall = min(best_wall, wall_end - wall_start)
    return best_forward, best_backward, best_wall


if __name__ == "__main__":
    import sys

    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    for solver_name in ("euler", "heun", "rk4"):
        forward, backward, wall = benchmark_temporal_forward_backward(solver=solver_name)
        print(
            f"TemporalJacobians F=3000 Q=6 {solver_name} threads={torch.get_num_threads()}: CPU time "
            f"forward {forward * 1e3:.1f} ms + backward {backward * 1e3:.1f} ms; wall {wall * 1e3:.1f} ms"
        )
