"""Tangent-following expert for ``bcx/Fork-v0``: around the obstacle on the episode's side.

From the fork observation ``[x, y, vx, vy(, coin)]`` (``bcx.envs.fork.ForkEnv``) the expert picks a
unit heading u(x, y), asks for the velocity v* = speed u and drives the env's lagged velocity
response toward it with a feed-forward term and proportional feedback:

    action = clip((v* + k_v (v* - v)) / max_speed, -1, 1).

u points at the goal when the straight segment to it clears a safety circle of radius
R = obstacle_radius + body_radius + margin around the obstacle. Otherwise u is the tangent from
the body to that circle on the episode's side. Passing on the right (x > 0) turns
counter-clockwise around the obstacle, so
u = rot(-side * alpha) (c - p) / |c - p| with alpha = asin(R / |c - p|), the tangent's half-angle;
inside the circle alpha grows past 90 degrees by k_out per metre of intrusion, steering outward.

The side: with the env's default ``side="coin"`` it is the episode's hidden coin (the
observation's privileged fifth feature, which no learner sees), at every state of the episode,
the learner's included: like a human demonstrator's intention, it is committed for the episode
and not visible in the state. Given what a learner sees, the expert's action at the fork is left
or right 50/50, whatever the state: p(a|s) is bimodal, a unimodal learner averages the two
modes, and on-policy labels (DAgger's) are just as bimodal, so they cannot teach a unimodal
learner a switch. ``commit_distance`` (m, optional) makes the coin decide only within that
distance of the start-goal line and the side the body is on decide beyond it; on-policy labels
are then a function of the state off the line, which DAgger can teach a Gaussian. With
``side="start"`` the side is sign(x) everywhere: the start offset decides it.

The path is the shortest one around the circle (tangent, arc, tangent) and its heading is
continuous where the goal comes into view. Following a tangent keeps the body on its side of the
start-goal line until then, so the side stays fixed all episode.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from bcx.envs.fork import ForkEnv
from bcx.errors import BCXError
from bcx.experts.base import Expert, box, check_matches_env


class ForkExpert(Expert):
    """Batched tangent-following controller for ForkEnv: obs (B, 4) -> action (B, 2)."""

    def __init__(
        self,
        *,
        env: gym.Env,
        speed: float = 0.6,
        margin: float = 0.1,
        velocity_gain: float = 0.5,
        outward_gain: float = 5.0,
        commit_distance: float | None = None,
    ) -> None:
        """speed: m/s, the cruising speed, below the env's max_speed so that feedback has room
        and no action saturates; margin: m, clearance kept from the obstacle; velocity_gain: k_v,
        how many times the velocity error is added on top of the feed-forward; outward_gain:
        k_out, rad of outward steering per metre inside the safety circle; commit_distance: m
        from the start-goal line within which the episode's coin, not the body's position,
        decides the side (env side="coin"); None: the coin decides everywhere."""
        fork = env.unwrapped
        if not isinstance(fork, ForkEnv):
            raise BCXError(
                f"expert 'fork' drives bcx/Fork-v0 (ForkEnv), but the env is "
                f"{type(fork).__name__}; omit the 'expert=' override to use the env's default."
            )
        # [x, y, vx, vy] (and the coin) in; motor fractions in [-1, 1] out.
        self.observation_space = box((4 + fork.privileged_features,))
        self.action_space = box((2,), -1.0, 1.0)
        check_matches_env(self, env, "fork")
        self.uses_coin = fork.privileged_features == 1
        if commit_distance is not None and (
            isinstance(commit_distance, bool)
            or not (isinstance(commit_distance, int | float) and 0 <= commit_distance < math.inf)
        ):
            raise BCXError(
                "expert.commit_distance must be null (the coin decides everywhere) or a finite "
                f"number >= 0 (m); got {commit_distance!r}."
            )
        self.commit_distance = math.inf if commit_distance is None else float(commit_distance)
        self.goal, self.obstacle = fork.goal.copy(), fork.obstacle.copy()
        self.safe_radius = fork.obstacle_radius + fork.body_radius + float(margin)
        self.max_speed = fork.max_speed
        self.speed, self.velocity_gain = float(speed), float(velocity_gain)
        self.outward_gain = float(outward_gain)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions: obs (B, 4 or 5) -> motor fractions (B, 2) float64 in [-1, 1]."""
        obs = np.asarray(obs, dtype=np.float64)
        target = self.speed * self.heading(obs[:, :2], self.side(obs))
        action = target + self.velocity_gain * (target - obs[:, 2:4])
        return np.clip(action / self.max_speed, -1.0, 1.0)

    def side(self, obs: np.ndarray) -> np.ndarray:
        """Which way around: obs (B, 4 or 5) -> (B, 1) of -1 (left) or +1 (right)."""
        # x = goal x exactly has measure zero at reset; sending it right keeps every label defined.
        by_position = np.where(obs[:, :1] >= self.goal[0], 1.0, -1.0)
        if not self.uses_coin:
            return by_position
        undecided = np.abs(obs[:, :1] - self.goal[0]) < self.commit_distance
        return np.where(undecided, np.sign(obs[:, 4:5]) + (obs[:, 4:5] == 0), by_position)

    def heading(self, position: np.ndarray, side: np.ndarray) -> np.ndarray:
        """Unit headings: positions (B, 2), sides (B, 1) -> (B, 2), to the goal or along the
        side's tangent."""
        to_goal = self.goal - position
        to_goal /= np.maximum(np.linalg.norm(to_goal, axis=1, keepdims=True), 1e-9)
        to_obstacle = self.obstacle - position
        distance = np.maximum(np.linalg.norm(to_obstacle, axis=1, keepdims=True), 1e-9)
        intrusion = self.safe_radius - distance
        alpha = np.where(
            intrusion > 0,
            np.minimum(np.pi / 2 + self.outward_gain * intrusion, np.pi),
            np.arcsin(np.minimum(self.safe_radius / distance, 1.0)),
        )
        tangent = _rotate(to_obstacle / distance, -side * alpha)
        return np.where(self._blocked(position)[:, None], tangent, to_goal)

    def _blocked(self, position: np.ndarray) -> np.ndarray:
        """Does the way to the goal pass within the safety circle? positions (B, 2) -> (B,) bool.

        Only a body heading toward the obstacle can be blocked: one already past it, moving away
        (the closest point of its segment is itself), never is.
        """
        segment = self.goal - position
        to_obstacle = self.obstacle - position
        along = np.sum(to_obstacle * segment, axis=1) / np.maximum(
            np.sum(segment**2, axis=1), 1e-12
        )
        closest = position + np.clip(along, 0.0, 1.0)[:, None] * segment
        miss = np.linalg.norm(closest - self.obstacle, axis=1)
        return (along > 0) & (miss < self.safe_radius)


def _rotate(vectors: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate vectors (B, 2) counter-clockwise by angles (B, 1) rad -> (B, 2)."""
    cos, sin = np.cos(angles[:, 0]), np.sin(angles[:, 0])
    x, y = vectors[:, 0], vectors[:, 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=1)
