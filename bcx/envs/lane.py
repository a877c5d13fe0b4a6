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

With ``cameras`` the car also carries pinhole cameras (``bcx.envs.lane_camera``: ALVINN's and
PilotNet's forward view over flat ground, NVIDIA's left and right cameras), and the observation
becomes a Dict of the state vector, with the road's parameters appended, and the images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from bcx.envs import lane_camera
from bcx.errors import BCXError

N_STATE_OBS = 3  # d, psi, v precede the curvature preview in the observation
DEFAULT_PREVIEW = (0.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0)  # m ahead
RENDER_SIZE = 128  # px, the side of render()'s frames
S_BOUND = 1e5  # m, the bound on s in the "state" space


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

    With ``cameras`` (names in ``lane_camera.CAMERAS``) the observation is a Dict instead:
        "state"  float32 (3 + n_preview + 1 + 3 n_waves,): the vector above, then the privileged
                 road features [s, wavenumber_1..n, phase_1..n, amplitude_1..n] (m, rad/m, rad,
                 1/m) that only the expert and bcx's tools read (``privileged_features``), so a
                 recorded row can be re-rendered (``render_state``)
        "pixels" uint8 (image_size, image_size, 3): the "center" camera's frame
        "pixels/<name>" the same for each other camera, e.g. "pixels/left"
    The frames are rendered from the float32 state row, so ``render_state`` repeats them exactly.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

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
        cameras: Sequence[str] = (),
        image_size: int = 64,
        render_mode: str | None = None,
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
        cameras: names in ``lane_camera.CAMERAS`` whose frames the observation carries (empty:
            the plain Box observation); image_size: px, their side.
        render_mode: None or "rgb_array" (``render()``: the center camera, RENDER_SIZE px).
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
        self._check_cameras(cameras, render_mode)
        self.cameras, self.image_size = tuple(cameras), lane_camera.check_size(image_size)
        self.render_mode = render_mode
        # Road features at the state row's end; a policy reads only the features before them.
        self.privileged_features = 1 + 3 * self.n_waves if self.cameras else 0

        n, kmax = len(self.preview), self.max_curvature
        # |d'| <= v, so the step that leaves the road ends at most v dt beyond its edge.
        d_max = self.road_width / 2 + self.speed_range[1] * self.dt
        low = np.array([-d_max, -math.pi, self.speed_range[0]] + [-kmax] * n, dtype=np.float32)
        high = np.array([d_max, math.pi, self.speed_range[1]] + [kmax] * n, dtype=np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        if self.cameras:
            self.observation_space = self._camera_space(low, high)
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

    def render_state(
        self,
        state: np.ndarray,
        camera: str = "center",
        shift: float = 0.0,
        rotation: float = 0.0,
        *,
        size: int | None = None,
    ) -> np.ndarray:
        """The frame (size, size, 3) uint8 (size: image_size by default) that `camera` sees from
        the car of a "state" row (3 + n_preview + 1 + 3 n_waves,), shifted sideways by `shift`
        m (perpendicular to its heading, positive left), then turned by `rotation` rad (left):
        the exact pose ``lane_camera.synthesize_view`` imitates by warping a frame."""
        state = np.asarray(state, dtype=np.float64)
        n, start = self.n_waves, N_STATE_OBS + len(self.preview)
        if state.shape != (start + 1 + 3 * n,):
            raise BCXError(
                f"render_state needs a state row of shape ({start + 1 + 3 * n},) as the "
                f'"state" observation has, got shape {state.shape}.'
            )
        wavenumber, phase, amplitude = state[start + 1 :].reshape(3, n)
        road = lane_camera.Road(wavenumber, phase, amplitude, half_width=self.road_width / 2)
        size = self.image_size if size is None else size
        s, d, psi = state[start], state[0], state[1]
        return lane_camera.render(road, s, d, psi, camera, size, shift=shift, rotation=rotation)

    def render(self) -> np.ndarray | None:
        """rgb_array mode: the center camera's frame (RENDER_SIZE, RENDER_SIZE, 3) uint8 of the
        current state; None without a render mode."""
        if self.render_mode != "rgb_array":
            return None
        return self.render_state(self._state_row(self._observe_vector()), size=RENDER_SIZE)

    @staticmethod
    def _check_cameras(cameras: Sequence[str], render_mode: str | None) -> None:
        """BCXError for an unknown or repeated camera name, or an unknown render mode."""
        if isinstance(cameras, str):  # one name, not a sequence of its letters
            raise BCXError(f"LaneEnv cameras must be a list of names, got {cameras!r}.")
        for name in cameras:
            lane_camera.get_camera(name)
        if len(set(cameras)) != len(cameras):
            raise BCXError(f"LaneEnv cameras must not repeat a name, got {list(cameras)}.")
        if render_mode not in (None, "rgb_array"):
            raise BCXError(f'LaneEnv render_mode must be None or "rgb_array", got {render_mode!r}.')

    def _camera_space(self, low: np.ndarray, high: np.ndarray) -> gym.spaces.Dict:
        """The Dict observation space: "state" (today's bounds, then the road's) and images."""
        n, (wl_min, wl_max) = self.n_waves, self.wavelength_range
        # s: a finite bound (gymnasium's checker warns on infinite ones) no drive reaches.
        road_low = [-S_BOUND] + [2 * math.pi / wl_max] * n + [0.0] * n + [0.0] * n
        road_high = [S_BOUND] + [2 * math.pi / wl_min] * n + [2 * math.pi] * n
        road_high += [self.max_curvature] * n
        state = gym.spaces.Box(
            np.concatenate([low, road_low]).astype(np.float32),
            np.concatenate([high, road_high]).astype(np.float32),
            dtype=np.float32,
        )
        image = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), dtype=np.uint8)
        return gym.spaces.Dict({"state": state, **{_key(name): image for name in self.cameras}})

    def _state_row(self, vector: np.ndarray) -> np.ndarray:
        """The "state" row: observation vector (3 + n_preview,), then s and the road's waves."""
        road = (self._s, *self._wavenumber, *self._phase, *self._amplitude)
        return np.concatenate([vector, np.array(road, dtype=np.float32)])

    def view_perturbations(
        self, states: np.ndarray, rng: np.random.Generator, scale: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sideways shifts (m, left) and rotations (rad, left) of the car for viewpoint
        augmentation, one per row of ``states`` (N, D): Gaussian, with ``2 * scale`` times the
        spread (std) of the rows' own offsets d and heading errors psi, as Bojarski et al. drew
        twice the deviations seen while driving. -> ((N,), (N,))."""
        spread = 2.0 * scale * states[:, :2].astype(np.float64).std(axis=0)
        shift, rotation = rng.standard_normal((2, len(states))) * spread[:, None]
        return shift, rotation

    def moved_states(
        self, states: np.ndarray, shift: np.ndarray, rotation: np.ndarray
    ) -> np.ndarray:
        """The state rows (N, D) of the car moved as ``render_state`` moves it: ``shift`` m
        sideways (perpendicular to its heading), then turned by ``rotation`` rad."""
        moved = np.array(states, dtype=np.float64)
        moved[:, 0] += shift * np.cos(moved[:, 1])
        moved[:, 1] = (moved[:, 1] + rotation + math.pi) % (2 * math.pi) - math.pi
        return moved.astype(np.float32)

    def corrective_actions(self, states: np.ndarray, seconds: float = 2.0) -> np.ndarray:
        """NVIDIA's label for a synthesized view: the steering (N, 1), in [-1, 1], whose path
        brings the car of each state row (N, D) back to the centre line and its heading in
        ``seconds`` of driving. The path is the cubic y(x) = d + psi x + a x^2 + b x^3 with
        y = y' = 0 after L = v * seconds metres; its initial curvature 2a, plus the road's,
        sets the steering through the car's understeer (``step``)."""
        d, psi, v = (states[:, i].astype(np.float64) for i in range(N_STATE_OBS))
        road = states[:, N_STATE_OBS].astype(np.float64)  # kappa at the car (preview 0 m)
        length = v * seconds
        curvature = road - 2.0 * (3.0 * d + 2.0 * psi * length) / length**2
        steer_length = self.wheelbase * (1.0 + (v / self.characteristic_speed) ** 2)
        steering = np.arctan(curvature * steer_length) / self.max_steer
        return np.clip(steering, -1.0, 1.0)[:, None].astype(np.float32)

    def _step_steer_error(self) -> None:
        """Ornstein-Uhlenbeck step; keeps the actuator error's stationary std at `disturbance`."""
        a = self._noise_decay
        noise = self.disturbance * math.sqrt(1.0 - a * a) * self.np_random.standard_normal()
        self._steer_error = a * self._steer_error + noise

    def _observe(self) -> np.ndarray | dict[str, np.ndarray]:
        """Observation at the current state: the vector (3 + n_preview,) float32, or with cameras
        the Dict of the "state" row and the frames rendered from it; caches kappa(s)."""
        vector = self._observe_vector()
        if not self.cameras:
            return vector
        state = self._state_row(vector)
        return {
            "state": state,
            **{_key(name): self.render_state(state, name) for name in self.cameras},
        }

    def _observe_vector(self) -> np.ndarray:
        """Observation vector (3 + n_preview,) float32 at the current state; caches kappa(s)."""
        kappa = np.sin(self._s * self._wavenumber + self._preview_phase) @ self._amplitude
        self._kappa_here = float(kappa[0])
        obs = np.empty(N_STATE_OBS + len(self.preview), dtype=np.float32)
        obs[:N_STATE_OBS] = (self._d, self._psi, self._v)
        # Rounding to float32 is monotonic, so values within the float64 bounds stay in the space.
        obs[N_STATE_OBS:] = kappa[1:]
        return obs


def _key(camera: str) -> str:
    """The observation key of a camera's frames: "pixels" for the center one."""
    return "pixels" if camera == "center" else f"pixels/{camera}"
