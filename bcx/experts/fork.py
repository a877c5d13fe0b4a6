"""Tangent-following expert for ``bcx/Fork-v0``: around the obstacle on the side the body is on.

From the fork observation ``[x, y, vx, vy]`` (see ``bcx.envs.fork.ForkEnv``) the expert picks a
heading u and tracks the velocity v* = speed u with feed-forward plus proportional feedback:

    action = clip(v* / max_speed + k_v (v* - v), -1, 1).

u points at the goal when the straight segment to it clears a safety circle of radius
R = obstacle_radius + body_radius + margin around the obstacle. Otherwise u is the tangent from
the body to that circle on the body's side: side = sign(x), the side of the start-goal line the
body is on. Passing on the right (x > 0) is a counter-clockwise turn around the obstacle, so
u = rot(-side * alpha) (c - p) / |c - p| with alpha = asin(R / |c - p|), the tangent's half-angle;
inside the circle alpha grows past 90 degrees by k_out per metre of intrusion, steering outward.
The heading is continuous where the goal comes into view (the goal segment is then the tangent),
and following the tangent keeps the body on its side, so the side a random start offset picks
stays fixed all episode: the expert is a stateless function of the observation, 50/50 left or
right over reset seeds, with a jump at x = 0 only where the goal is hidden.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from bcx.envs.fork import ForkEnv
from bcx.errors import BCXError
from bcx.experts.base import Expert, require_shapes


class ForkExpert(Expert):
    """Batched tangent-following controller for ForkEnv: obs (B, 4) -> action (B, 2)."""

    def __init__(
        self,
        *,
        env: gym.Env,
        speed: float = 0.8,
        margin: float = 0.1,
        velocity_gain: float = 4.0,
        outward_gain: float = 5.0,
        swerve_distance: float = 0.3,
    ) -> None:
        """speed: m/s, the cruising speed, below the env's max_speed to leave room for feedback;
        margin: m, clearance kept from the obstacle; velocity_gain: k_v, action per m/s of
        velocity error; outward_gain: k_out, rad of outward steering per metre inside the
        safety circle."""
        require_shapes("fork", env, (4,), (2,))
        fork = env.unwrapped
        if not isinstance(fork, ForkEnv):
            raise BCXError(
                f"expert 'fork' drives bcx/Fork-v0 (ForkEnv), but the env is "
                f"{type(fork).__name__}; omit the 'expert=' override to use the env's default."
            )
        self.goal, self.obstacle = fork.goal.copy(), fork.obstacle.copy()
        self.safe_radius = fork.obstacle_radius + fork.body_radius + float(margin)
        self.damping, self.max_accel = fork.damping, fork.max_accel
        self.speed, self.velocity_gain = float(speed), float(velocity_gain)
        self.outward_gain = float(outward_gain)
        self.swerve_distance = float(swerve_distance)
        self.observation_space = env.observation_space
        self.action_space = env.action_space

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions: obs (B, 4) -> motor fractions (B, 2) float64 in [-1, 1]."""
        obs = np.asarray(obs, dtype=np.float64)
        position, velocity = obs[:, :2], obs[:, 2:]
        target = self.speed * self.heading(position)
        accel = self.damping * target + self.velocity_gain * (target - velocity)
        action = accel / self.max_accel
        return np.clip(action, -1.0, 1.0)

    def heading(self, position: np.ndarray) -> np.ndarray:
        """Unit heading: positions (B, 2) -> (B, 2), to the goal or along the side's tangent."""
        to_goal = self.goal - position
        to_goal /= np.maximum(np.linalg.norm(to_goal, axis=1, keepdims=True), 1e-9)
        to_obstacle = self.obstacle - position
        distance = np.maximum(np.linalg.norm(to_obstacle, axis=1), 1e-9)
        inside = np.maximum(self.safe_radius - distance, 0.0)
        alpha = np.where(
            inside > 0,
            np.pi / 2 + self.outward_gain * inside,
            np.arcsin(np.minimum(self.safe_radius / distance, 1.0)),
        )
        # x = 0 exactly is a measure-zero tie; break it toward the right so labels are defined.
        side = np.where(position[:, 0] >= self.goal[0], 1.0, -1.0)
        angle = -side * np.minimum(alpha, np.pi)
        cos, sin = np.cos(angle), np.sin(angle)
        ux, uy = to_obstacle[:, 0] / distance, to_obstacle[:, 1] / distance
        tangent = np.stack([cos * ux - sin * uy, sin * ux + cos * uy], axis=1)
        swerve = np.clip(
            (self.safe_radius + self.swerve_distance - distance)
            / (0.5 * self.swerve_distance + 1e-9),
            0.0,
            1.0,
        )[:, None]
        blend = swerve * tangent + (1 - swerve) * to_goal
        blend /= np.linalg.norm(blend, axis=1, keepdims=True)
        return np.where(self._blocked(position)[:, None], blend, to_goal)

    def _blocked(self, position: np.ndarray) -> np.ndarray:
        """Does the segment position -> goal pass within the safety circle? (B, 2) -> (B,) bool.

        Only while heading toward the obstacle: a body behind it, moving away, is never blocked.
        """
        segment = self.goal - position
        to_obstacle = self.obstacle - position
        length2 = np.maximum(np.sum(segment * segment, axis=1), 1e-12)
        along = np.sum(to_obstacle * segment, axis=1) / length2
        closest = position + np.clip(along, 0.0, 1.0)[:, None] * segment
        miss = np.linalg.norm(closest - self.obstacle, axis=1)
        return (along > 0) & (miss < self.safe_radius)
