"""Motion model (docs/method.md §6): pose schedule, keypoint trajectories, temporal Jacobians.

Three pieces, all differentiable and batched, one module each:

- `schedule.PoseSchedule` — how the N video frames map onto Q distinct poses (ping-pong loops).
- `trajectories.KeypointTrajectories` — one cubic Bézier per keypoint whose control points are
  predicted by a shared offset MLP (the MLP's weights are what trains); evaluated at the Q pose
  times.
- `temporal.TemporalJacobians` — FlexiClip's residual Jacobians J^R, integrated by a fixed-step
  ODE over pose time whose rate network reads causal attention encodings of the pose-Jacobian
  window and of the residuals so far. J^R(0) = 0 exactly; the final per-face Jacobians are
  J = J^P + J^R.

Nothing here is detached: gradients flow from J^R into both attention encoders, the rate MLP and
back into the pose Jacobians (hence into the trajectory MLP).
"""

from flexiclip_core.motion.schedule import PoseSchedule, tile_frames
from flexiclip_core.motion.temporal import TemporalConfig, TemporalJacobians
from flexiclip_core.motion.trajectories import KeypointTrajectories, TrajectoryConfig, cubic_bezier_basis

__all__ = [
    "PoseSchedule",
    "TrajectoryConfig",
    "KeypointTrajectories",
    "TemporalConfig",
    "TemporalJacobians",
    "cubic_bezier_basis",
    "tile_frames",
]
