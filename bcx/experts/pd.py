"""Jacobian-transpose PD reaching controller for gymnasium's Reacher-v5.

Reacher v5 observation (10,): ``[cos q (2), sin q (2), target xy (2), qdot (2), tip - target (2)]``
with ``q`` the two arm joint angles; action (2,) are the joint motor controls in [-1, 1].
The expert acts ``clip(kp * J(q)^T (target - tip) - kd * qdot)`` with the planar Jacobian of the
fingertip computed in closed form from link offsets read from the model.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from bcx.errors import BCXError
from bcx.experts.base import Expert, box, check_matches_env

# Right-multiplying a row vector v (.., 2) by this rotates it +90 degrees: v @ _PERP = (-v_y, v_x).
_PERP = np.array([[0.0, 1.0], [-1.0, 0.0]])


def planar_jacobian(q: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Tip xy Jacobian of a planar serial arm with hinge joints: q (B, n) -> J (B, 2, n).

    links (n, 2): each link's offset to the next joint (the tip for the last) in its own frame.
    Column j is d tip / d q_j = perp(vector from joint j to the tip).
    """
    angles = np.cumsum(q, axis=1)[..., None]  # (B, n, 1) absolute link angles
    arms = np.cos(angles) * links + np.sin(angles) * (links @ _PERP)  # (B, n, 2) world offsets
    to_tip = np.cumsum(arms[:, ::-1], axis=1)[:, ::-1]  # (B, n, 2) joint j -> tip
    return np.swapaxes(to_tip @ _PERP, 1, 2)


class PDExpert(Expert):
    """Batched Jacobian-transpose PD controller for Reacher-v5."""

    def __init__(self, *, env: gym.Env, kp: float = 20.0, kd: float = 0.1) -> None:
        """kp: gain on the Cartesian tip error (per metre); kd: joint velocity damping."""
        # Reacher-v5's: a 10-wide observation, two joint motor controls in [-1, 1].
        self.observation_space, self.action_space = box((10,)), box((2,), -1.0, 1.0)
        check_matches_env(self, env, "pd")
        # Link offsets are the child bodies' positions in their parents' frames (xy plane).
        try:
            model = env.unwrapped.model
            self.links = np.stack([model.body(b).pos[:2] for b in ("body1", "fingertip")])
        except (AttributeError, KeyError) as err:
            raise BCXError(
                "expert 'pd' needs Reacher's MuJoCo model (bodies 'body1' and 'fingertip'), "
                f"but env {type(env.unwrapped).__name__} has none: {err}."
            ) from err
        self.kp, self.kd = float(kp), float(kd)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions: obs (B, 10) -> (B, 2) float64 in the action bounds."""
        obs = np.asarray(obs, dtype=np.float64)
        q = np.arctan2(obs[:, 2:4], obs[:, 0:2])
        error = -obs[:, 8:10]  # the observation carries tip - target
        jt_error = (error[:, None, :] @ planar_jacobian(q, self.links))[:, 0]  # (B, 2) J^T e
        torque = self.kp * jt_error - self.kd * obs[:, 6:8]
        return np.clip(torque, self.action_space.low, self.action_space.high)
