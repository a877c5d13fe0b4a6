"""ALVINN-style lane keeping: a kinematic-bicycle car on a winding road, in the road's Frenet frame.

The state is (s, d, psi): arc length along the centre line, lateral offset from it (positive to
the left) and heading error w.r.t. its tangent (positive = pointing left). With the rear axle as
reference point and steering angle delta, the car moves as

    s'   = v cos(psi) / (1 - d kappa(s))
    d'   = v sin(psi)
    psi' = v tan(delta + n) / (L (1 + (v / v_ch)^2)) - kappa(s) s'

integrated by explicit Euler. n is a slowly varying steering-actuator error (Ornstein-Uhlenbeck),
so the car cannot be driven open loop: errors must be fed back. 1 + (v / v_ch)^2 is the
steady-state understeer of a real car: the steering a curve needs grows with speed, so a policy
must learn how speed and curvature combine. The curvature kappa(s) is a sum of a few sinusoids
whose wavelengths, phases and weights come from the reset seed, so every seed is a new road.

The defaults are tuned for the BC demo: the expert keeps |d| below 0.1 m where the road allows
1 m, so its demonstrations never show a recovery; a policy cloned from a couple of episodes (two
speeds, two roads) drifts off the road, one cloned from tens of episodes or from noise-widened
data stays on it. Tight curves (radius >= 12.5 m) and strong understeer make the steering a curve
needs depend on speed and curvature together, which a couple of episodes cannot pin down.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from bcx.errors import BCXError

N_STATE_OBS = 3  # d, psi, v precede the curvature preview in the observation
DEFAULT_PREVIEW = (0.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0)  # m ahead


class LaneEnv(gym.Env[np.ndarray, np.ndarray]):
    """Keep a car on a winding road by steering it; its speed is constant within an episode.

    Observation, float32, shape (3 + len(preview),):
        [0]  d      lateral offset from the centre line, m, positive to the left
        [1]  psi    heading error w.r.t. the road tangent, rad in [-pi, pi), positive = left
        [2]  v      speed, m/s, drawn from speed_range at reset
        [3+i] kappa(s + preview[i])  road curvature preview[i] metres ahead, 1/m, positive = left
    Action, shape (1,), in [-1, 1]: front-wheel steering angle as a fraction of max_steer
    (positive = left).
    Reward: metres of progress along the centre line this step, v cos(psi) dt / (1 - d kappa).
    Terminates when |d| > road_width / 2 (the car left the road); the episode length limit comes
    from the registration (``bcx/Lane-v0``: 500 steps of dt = 0.05 s).
    info: ``success`` (the car has not left the road so far) and ``left_road`` (this step).
    """

    metadata = {"render_modes": [], "render_fps": 20}

    def __init__(
        self,
        *,
        road_width: float = 2.0,
        speed_range: tuple[float, float] = (6.0, 14.0),
        preview: tuple[float, ...] = DEFAULT_PREVIEW,
        max_curvature: float = 0.08,
        wavelength_range: tuple[float, float] = (30.0, 120.0),
        n_waves: int = 3,
        disturbance: float = 0.005,
        noise_time: float = 1.0,
        start_offset: float = 0.05,
        start_heading: float = 0.01,
        wheelbase: float = 2.5,
        characteristic_speed: float = 12.0,
        max_steer: float = 0.6,
        dt: float = 0.05,
    ) -> None:
        """Road and car parameters.

        road_width: m, the band the car's reference point must stay in: |d| > road_width / 2
            ends the episode (2 m: a 3.8 m lane less a 1.8 m wide car).
        speed_range: m/s, the per-episode speed is uniform in it.
        preview: m, look-ahead distances of the curvature preview in the observation.
        max_curvature: 1/m, bound on |kappa|; wavelength_range: m, of the n_waves sinusoids.
        disturbance: rad, std of the steering-actuator error; noise_time: s, its correlation time.
        start_offset / start_heading: m / rad, half-widths of the uniform initial d / psi.
        wheelbase: m; characteristic_speed: understeer v_ch, m/s (inf: neutral steer);
        max_steer: rad, the steering angle of action 1; dt: s, the integration step.
        """
        if max_curvature * road_width >= 1.0:
            raise BCXError(
                f"LaneEnv needs max_curvature * road_width < 1 for the road frame to be defined, "
                f"got max_curvature={max_curvature} and road_width={road_width}."
            )
        self.road_width, self.speed_range = float(road_width), tuple(map(float, speed_range))
        self.preview = tuple(map(float, preview))
        self.max_curvature, self.n_waves = float(max_curvature), int(n_waves)
        self.wavelength_range = tuple(map(float, wavelength_range))
        self.disturbance, self.noise_time = float(disturbance), float(noise_time)
        self.start_offset, self.start_heading = float(start_offset), float(start_heading)
        self.wheelbase, self.max_steer, self.dt = float(wheelbase), float(max_steer), float(dt)
        self.characteristic_speed = float(characteristic_speed)

        n, kmax = len(self.preview), self.max_curvature
        # |d'| <= v, so the step that leaves the road ends at most v dt beyond its edge.
        d_max = self.road_width / 2 + self.speed_range[1] * self.dt
        low = np.array([-d_max, -math.pi, self.speed_range[0]] + [-kmax] * n, dtype=np.float32)
        high = np.array([d_max, math.pi, self.speed_range[1]] + [kmax] * n, dtype=np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        # Curvature is evaluated at s + offsets; offset 0 first feeds the dynamics of the next step.
        self._offsets = np.array((0.0, *self.preview))
        self._noise_decay = math.exp(-self.dt / self.noise_time)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a new road, speed, start pose and actuator error -> (obs (3 + n_preview,), info)."""
        super().reset(seed=seed)
        rng = self.np_random
        self._wavenumber = 2 * math.pi / rng.uniform(*self.wavelength_range, size=self.n_waves)
        self._phase = rng.uniform(0.0, 2 * math.pi, size=self.n_waves)
        weights = rng.uniform(0.5, 1.0, size=self.n_waves)
        self._amplitude = self.max_curvature * weights / weights.sum()  # so |kappa| <= max
        self._preview_phase = np.outer(self._offsets, self._wavenumber) + self._phase
        self._v = rng.uniform(*self.speed_range)
        self._steer_length = self.wheelbase * (1.0 + (self._v / self.characteristic_speed) ** 2)
        self._s = 0.0
        self._d = rng.uniform(-self.start_offset, self.start_offset)
        self._psi = rng.uniform(-self.start_heading, self.start_heading)
        self._steer_error = self.disturbance * rng.standard_normal()
        self._left_road = False
        return self._observe(), {"success": True, "left_road": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance dt with steering action (1,) in [-1, 1]; returns the gymnasium 5-tuple."""
        delta = min(max(float(action[0]), -1.0), 1.0) * self.max_steer  # np.clip is slow on scalars
        v, d, psi, kappa = self._v, self._d, self._psi, self._kappa_here
        s_dot = v * math.cos(psi) / (1.0 - d * kappa)
        self._s += s_dot * self.dt
        self._d = d + v * math.sin(psi) * self.dt
        yaw_rate = v * math.tan(delta + self._steer_error) / self._steer_length
        psi = psi + (yaw_rate - kappa * s_dot) * self.dt
        self._psi = (psi + math.pi) % (2 * math.pi) - math.pi
        self._step_steer_error()

        left_road = abs(self._d) > self.road_width / 2
        self._left_road = self._left_road or left_road
        info = {"success": not self._left_road, "left_road": left_road}
        return self._observe(), s_dot * self.dt, left_road, False, info

    def perturb_observations(
        self, obs: np.ndarray, rng: np.random.Generator, scale: float
    ) -> np.ndarray:
        """Augmentation (``mitigation=augment``): the car shifted sideways by up to
        0.5 * scale m and rotated by up to 0.15 * scale rad (uniform), same speed and road.
        obs (N, 3 + n_preview) -> (N, 3 + n_preview); the preview is kept, as a camera shifted
        by a fraction of a metre would still see the same curves ahead."""
        perturbed = np.array(obs, dtype=np.float64)
        perturbed[:, 0] += rng.uniform(-0.5, 0.5, len(obs)) * scale
        perturbed[:, 1] += rng.uniform(-0.15, 0.15, len(obs)) * scale
        return perturbed

    def _step_steer_error(self) -> None:
        """Ornstein-Uhlenbeck step; keeps the actuator error's stationary std at `disturbance`."""
        a = self._noise_decay
        noise = self.disturbance * math.sqrt(1.0 - a * a) * self.np_random.standard_normal()
        self._steer_error = a * self._steer_error + noise

    def _observe(self) -> np.ndarray:
        """Observation (3 + n_preview,) float32 at the current state; caches kappa(s)."""
        kappa = np.sin(self._s * self._wavenumber + self._preview_phase) @ self._amplitude
        self._kappa_here = float(kappa[0])
        obs = np.empty(N_STATE_OBS + len(self.preview), dtype=np.float32)
        obs[:N_STATE_OBS] = (self._d, self._psi, self._v)
        # Rounding to float32 is monotonic, so values within the float64 bounds stay in the space.
        obs[N_STATE_OBS:] = kappa[1:]
        return obs
