"""The pose schedule and tiling poses to frames."""

from __future__ import annotations

import pytest
import torch

from flexiclip_core.errors import ConfigError
from flexiclip_core.motion import (
    PoseSchedule,
    tile_frames,
)


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
