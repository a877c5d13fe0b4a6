"""Stanley lane-keeping controller with curvature feed-forward for ``bcx/Lane-v0``.

From the lane observation ``[d, psi, v, kappa(s + p_0), ...]`` (see ``bcx.envs.lane.LaneEnv``)
the steering angle is

    delta = k_ff atan(L_v kappa_0) - k_psi psi - atan(k e / (k_soft + v)),   e = d + L sin(psi)

with e the cross-track error of the front axle, kappa_0 the nearest curvature preview and
L_v = L (1 + (v / v_ch)^2) the speed-dependent steering length of the env's understeering car.
Linearised on a straight road the closed loop is s^2 + (v + k L) / L_v s + k v / L_v (poles -v / L
and -k for a neutral-steer car), stable for any k > 0; the feed-forward makes (d, psi) = 0 an
equilibrium on a curve of constant curvature. Every term is bounded, so any state gets a label.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from bcx.envs.lane import DEFAULT_PREVIEW, N_STATE_OBS, LaneEnv
from bcx.errors import BCXError
from bcx.experts.base import Expert, box, check_matches_env


class StanleyExpert(Expert):
    """Batched Stanley steering for LaneEnv: obs (B, 3 + n_preview) -> action (B, 1)."""

    def __init__(
        self,
        *,
        env: gym.Env,
        gain: float = 2.5,
        softening: float = 1.0,
        heading_gain: float = 1.0,
        feedforward_gain: float = 1.0,
    ) -> None:
        """gain: cross-track gain k, 1/s; softening: k_soft, m/s, keeps the gain finite at low
        speed; heading_gain: k_psi on the heading error; feedforward_gain: k_ff on the curvature
        feed-forward steering."""
        lane = env.unwrapped
        # The shape check comes first so that a wrong env gets the standard message.
        preview = lane.preview if isinstance(lane, LaneEnv) else DEFAULT_PREVIEW
        # [d, psi, v] and one curvature per preview distance in (and, with cameras, the road's
        # privileged description, which it does not need); a steering fraction out.
        privileged = getattr(lane, "privileged_features", 0)
        self.observation_space = box((N_STATE_OBS + len(preview) + privileged,))
        self.action_space = box((1,), -1.0, 1.0)
        check_matches_env(self, env, "stanley")
        if not isinstance(lane, LaneEnv):
            raise BCXError(
                f"expert 'stanley' steers bcx/Lane-v0 (LaneEnv), but the env is "
                f"{type(lane).__name__}; omit the 'expert=' override to use the env's default."
            )
        self.wheelbase, self.max_steer = lane.wheelbase, lane.max_steer
        self.characteristic_speed = lane.characteristic_speed
        self.gain, self.softening = float(gain), float(softening)
        self.heading_gain, self.feedforward_gain = float(heading_gain), float(feedforward_gain)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions: obs (B, 3 + n_preview) -> steering fractions (B, 1) float64 in [-1, 1]."""
        obs = np.asarray(obs, dtype=np.float64)
        d, psi, v, kappa = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, N_STATE_OBS]
        cross_track = d + self.wheelbase * np.sin(psi)
        # |v| keeps the softened gain positive for any input, e.g. states a learner makes up.
        correction = np.arctan(self.gain * cross_track / (self.softening + np.abs(v)))
        steer_length = self.wheelbase * (1.0 + (v / self.characteristic_speed) ** 2)
        feedforward = np.arctan(steer_length * kappa)
        delta = self.feedforward_gain * feedforward - self.heading_gain * psi - correction
        return np.clip(delta / self.max_steer, -1.0, 1.0)[:, None]
