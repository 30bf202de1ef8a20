"""Tests for flexiclip_core.motion: pose schedule, keypoint trajectories, temporal Jacobians."""

from __future__ import annotations

import math
import time

import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.motion import (
    KeypointTrajectories,
    PoseSchedule,
    TemporalConfig,
    TemporalJacobians,
    TrajectoryConfig,
    cubic_bezier_basis,
    tile_frames,
)



@pytest.fixture(autouse=True, scope="module")
def single_thread():
    # Tiny tensors: one thread avoids spin-waiting on a shared, loaded CPU.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# A five-keypoint "star" with a fan of triangles around its centre, used to turn keypoint
# positions into per-face pose Jacobians J = E' E⁻¹ (a stand-in for the deform stage).
STAR_KEYPOINTS = torch.tensor([[128.0, 128.0], [128.0, 40.0], [210.0, 100.0], [180.0, 210.0], [76.0, 210.0], [46.0, 100.0]])
STAR_FACES = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5], [0, 5, 1]])


def face_jacobians(positions: torch.Tensor, rest: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """positions [Q, K, 2], rest [K, 2], faces [F, 3] → Jacobians [Q, F, 2, 2]"""

    def edges(points: torch.Tensor) -> torch.Tensor:
        corner = points[..., faces[:, 0], :]
        return torch.stack([points[..., faces[:, 1], :] - corner, points[..., faces[:, 2], :] - corner], dim=-1)

    return edges(positions) @ torch.linalg.inv(edges(rest))


def random_pose_jacobians(pose_count: int, face_count: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = 0.3 * torch.randn(pose_count, face_count, 2, 2, generator=generator, dtype=dtype)
    return torch.eye(2, dtype=dtype) + noise


# ---------------------------------------------------------------------------- schedule


def test_schedule_24_frames_two_loops_ping_pong_with_held_turning_points():
    schedule = PoseSchedule(frame_count=24, loop_count=2)
    assert schedule.pose_count == 6
    assert torch.allclose(schedule.pose_times(), torch.tensor([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]))
    one_loop = [0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0]
    assert schedule.frame_to_pose().tolist() == one_loop * 2
    assert schedule.frame_to_pose().dtype == torch.int64


def test_schedule_without_loops_gives_n_distinct_poses_in_order():
    schedule = PoseSchedule(frame_count=24, loop_count=0)
    assert schedule.pose_count == 24
    assert schedule.frame_to_pose().tolist() == list(range(24))
    assert schedule.pose_times().shape == (24,)


@pytest.mark.parametrize("frame_count, loop_count", [(24, 5), (10, 3), (7, 1)])
def test_schedule_rejects_frame_count_not_divisible_by_twice_the_loops(frame_count, loop_count):
    with pytest.raises(ConfigError, match="divisible"):
        PoseSchedule(frame_count=frame_count, loop_count=loop_count)


@pytest.mark.parametrize("kwargs", [{"frame_count": 0}, {"loop_count": -1}])
def test_schedule_rejects_nonsense_counts(kwargs):
    with pytest.raises(ConfigError):
        PoseSchedule(**kwargs)


def test_tile_frames_gathers_poses_into_frames_and_sums_gradients():
    schedule = PoseSchedule(frame_count=12, loop_count=1)
    pose_values = torch.arange(6 * 2, dtype=torch.float64).reshape(6, 2).requires_grad_()
    frames = tile_frames(pose_values, schedule)
    assert frames.shape == (12, 2)
    assert torch.equal(frames[6], pose_values[5].detach())
    assert torch.equal(frames[11], pose_values[0].detach())
    frames.sum().backward()
    assert torch.equal(pose_values.grad, torch.full((6, 2), 2.0, dtype=torch.float64))
    with pytest.raises(ValueError):
        tile_frames(torch.zeros(5, 2), schedule)


# ---------------------------------------------------------------------------- trajectories


def test_bezier_basis_is_a_partition_of_unity_and_exact_at_the_ends():
    basis = cubic_bezier_basis(torch.linspace(0, 1, 7, dtype=torch.float64))
    assert torch.allclose(basis.sum(-1), torch.ones(7, dtype=torch.float64))
    assert basis[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert basis[-1].tolist() == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("fix_start", [True, False])
def test_trajectories_start_within_init_offset_of_rest(fix_start):
    torch.manual_seed(3)
    schedule = PoseSchedule(fix_start=fix_start)
    trajectories = KeypointTrajectories(STAR_KEYPOINTS, schedule)
    control_points = trajectories.control_points()
    distance = (control_points - STAR_KEYPOINTS[:, None, :]).norm(dim=-1)
    assert float(distance.detach().max()) < 0.01
    # Not all collapsed onto the rest point: the trajectories have a direction to start from.
    assert float(distance[:, 1:].detach().min()) > 0.0
    positions = trajectories()
    assert positions.shape == (6, len(STAR_KEYPOINTS), 2)
    assert float((positions.detach() - STAR_KEYPOINTS).norm(dim=-1).max()) < 0.01
    if fix_start:
        assert torch.equal(positions[0], STAR_KEYPOINTS)
        assert torch.equal(control_points[:, 0], STAR_KEYPOINTS)


def test_pose_zero_stays_at_rest_after_training_steps_when_start_is_fixed():
    torch.manual_seed(4)
    trajectories = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule())
    target = STAR_KEYPOINTS + torch.tensor([5.0, -3.0])
    for _ in range(5):
        trajectories.zero_grad()
        loss = (trajectories() - target).square().sum()
        loss.backward()
        # Sign descent = Adam's first steps (torch.optim's first step costs seconds of imports).
        with torch.no_grad():
            for parameter in trajectories.parameters():
                parameter -= 0.005 * parameter.grad.sign()
    positions = trajectories().detach()
    assert torch.equal(positions[0], STAR_KEYPOINTS)
    # ... while the later poses actually moved towards the target.
    assert float((positions[-1] - STAR_KEYPOINTS).norm(dim=-1).mean()) > 0.1


def test_trajectory_seed_makes_initialisation_reproducible_without_touching_global_rng():
    config = TrajectoryConfig(seed=7)
    before = torch.random.get_rng_state()
    first = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule(), config).control_points()
    assert torch.equal(torch.random.get_rng_state(), before)
    second = KeypointTrajectories(STAR_KEYPOINTS, PoseSchedule(), config).control_points()
    assert torch.equal(first, second)


def test_trajectories_follow_rest_keypoints_dtype_and_reject_bad_input():
    trajectories = KeypointTrajectories(STAR_KEYPOINTS.double(), PoseSchedule(frame_count=8, loop_count=0))
    assert trajectories().dtype == torch.float64
    assert trajectories().shape == (8, len(STAR_KEYPOINTS), 2)
    assert all(p.dtype == torch.float64 for p in trajectories.parameters())
    assert trajectories.positions_at(torch.tensor([0.0, 0.5])).shape == (2, len(STAR_KEYPOINTS), 2)
    with pytest.raises(ValueError):
        KeypointTrajectories(torch.zeros(4, 3))
    with pytest.raises(ValueError):
        KeypointTrajectories(torch.tensor([[0.0, float("nan")]]))


# ---------------------------------------------------------------------------- temporal Jacobians


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
        name: TemporalJacobians(schedule, TemporalConfig(rate_init_scale=1.0, seed=3, solver=name), dtype=torch.float64)
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
