"""A fork in the road: a MuJoCo point mass must pass a round obstacle on the left or the right.

The body starts near the origin, the goal lies straight ahead at (0, goal_y) and a disc of radius
obstacle_radius sits halfway, on the start-goal line. Going around either side is equally short,
so an expert that picks a side at random demonstrates two modes from the same start, and a
unimodal policy fit by maximum likelihood averages them into "straight ahead", into the obstacle.

The body is a sphere on two slide joints (x, y) in a plane without gravity, driven by two motors
against joint damping: a constant action a reaches the velocity a * max_speed within a time
constant of mass / damping. The obstacle and the goal are drawn in the model but do not collide
(contype 0): touching is decided geometrically after each step, which keeps stepping cheap and
makes "collision" the exact event the episode ends on.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from bcx.errors import BCXError

_XML = """
<mujoco model="fork">
  <option timestep="{timestep}" gravity="0 0 0" integrator="implicitfast"/>
  <worldbody>
    <geom name="obstacle" type="cylinder" size="{obstacle_radius} 0.05" pos="0 {obstacle_y} 0"
          contype="0" conaffinity="0" rgba="0.8 0.2 0.2 1"/>
    <site name="goal" type="sphere" size="{goal_radius}" pos="0 {goal_y} 0"
          rgba="0.2 0.8 0.2 0.5"/>
    <body name="mass">
      <joint name="x" type="slide" axis="1 0 0" damping="{damping}"/>
      <joint name="y" type="slide" axis="0 1 0" damping="{damping}"/>
      <geom name="mass" type="sphere" size="{body_radius}" mass="{mass}" contype="0"
            conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="x" gear="{gear}" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" gear="{gear}" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


class ForkEnv(gym.Env[np.ndarray, np.ndarray]):
    """Reach the goal at (0, goal_y) past a disc at (0, obstacle_y) without touching it.

    Observation, float32, shape (4,): [x, y, vx, vy], position (m) and velocity (m/s) of the
    body; the start is near (0, 0), the goal and the obstacle are fixed (see the constructor).
    Action, shape (2,), in [-1, 1]: motor forces along x and y as fractions of the largest one;
    a constant action a settles at the velocity a * max_speed.
    Reward: metres of progress toward the goal this step (|p - g| before minus after), plus
    goal_bonus on the step that reaches the goal, minus collision_penalty on the step that touches
    the obstacle. The expert earns about start-goal distance + goal_bonus, a random policy ~0.
    Terminates when the body's centre is within goal_radius of the goal (success) or its sphere
    touches the obstacle (collision); the episode length limit comes from the registration
    (``bcx/Fork-v0``: 200 steps of dt = 0.05 s, about three times what the expert needs).
    info, every step: ``success`` (goal reached, obstacle never touched) and ``collision`` (the
    obstacle has been touched).
    Reset: the body starts at rest at a uniform offset of at most start_offset per axis from the
    origin; the sign of its x offset decides which side the expert takes.
    """

    metadata = {"render_modes": [], "render_fps": 20}

    def __init__(
        self,
        *,
        goal_y: float = 2.0,
        goal_radius: float = 0.1,
        obstacle_y: float = 1.0,
        obstacle_radius: float = 0.3,
        body_radius: float = 0.05,
        start_offset: float = 0.01,
        max_accel: float = 2.0,
        damping: float = 0.25,
        goal_bonus: float = 1.0,
        collision_penalty: float = 1.0,
        timestep: float = 0.01,
        frame_skip: int = 5,
    ) -> None:
        """Geometry, dynamics and reward parameters.

        goal_y / obstacle_y: m, the goal's and the obstacle's centres on the y axis.
        goal_radius: m, the body's centre within it reaches the goal; obstacle_radius /
        body_radius: m, the two touch when their centres are closer than the sum.
        start_offset: m, half-width of the uniform start offset per axis.
        max_speed: m/s, the terminal velocity of action 1; response_time: s, mass / damping.
        goal_bonus / collision_penalty: reward added / subtracted on the ending step.
        timestep: s, the MuJoCo step; frame_skip: MuJoCo steps per env step.
        """
        clearance = obstacle_y - obstacle_radius - body_radius - start_offset * np.sqrt(2)
        if clearance <= 0 or goal_y - obstacle_y <= obstacle_radius + goal_radius:
            raise BCXError(
                "ForkEnv needs the start region and the goal outside the obstacle, got "
                f"obstacle_y={obstacle_y}, obstacle_radius={obstacle_radius}, body_radius="
                f"{body_radius}, start_offset={start_offset}, goal_y={goal_y}, goal_radius="
                f"{goal_radius}."
            )
        self.goal = np.array([0.0, goal_y])
        self.obstacle = np.array([0.0, obstacle_y])
        self.goal_radius, self.obstacle_radius = float(goal_radius), float(obstacle_radius)
        self.body_radius, self.start_offset = float(body_radius), float(start_offset)
        self.max_accel, self.damping = float(max_accel), float(damping)
        self.max_speed = self.max_accel / self.damping
        self.goal_bonus, self.collision_penalty = float(goal_bonus), float(collision_penalty)
        self.frame_skip = int(frame_skip)
        self.model = mujoco.MjModel.from_xml_string(self._xml(timestep))
        self.data = mujoco.MjData(self.model)
        self.dt = self.model.opt.timestep * self.frame_skip

        # Positions are unbounded (no walls); |velocity| cannot exceed max_speed per axis.
        high = np.array([np.inf, np.inf, self.max_speed, self.max_speed], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def _xml(self, timestep: float) -> str:
        """The MJCF model; with mass = 1 kg, force is acceleration."""
        return _XML.format(
            timestep=timestep,
            obstacle_radius=self.obstacle_radius,
            obstacle_y=self.obstacle[1],
            goal_radius=self.goal_radius,
            goal_y=self.goal[1],
            body_radius=self.body_radius,
            mass=1.0,
            damping=self.damping,
            gear=self.max_accel,
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Place the body at rest near the origin -> (obs (4,), info)."""
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self.np_random.uniform(-self.start_offset, self.start_offset, size=2)
        mujoco.mj_forward(self.model, self.data)
        self._distance = self._goal_distance()
        return self._observe(), {"success": False, "collision": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance dt with motor action (2,) in [-1, 1]; returns the gymnasium 5-tuple."""
        self.data.ctrl[:] = action  # MuJoCo clamps to ctrlrange
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        distance = self._goal_distance()
        reward, self._distance = self._distance - distance, distance
        # dt * max_speed = 5 cm per step: too little to jump the disc or the goal between checks.
        to_obstacle = np.hypot(*(self.data.qpos - self.obstacle))
        collision = bool(to_obstacle < self.obstacle_radius + self.body_radius)
        success = not collision and distance < self.goal_radius
        reward += self.goal_bonus * success - self.collision_penalty * collision
        info = {"success": success, "collision": collision}
        return self._observe(), float(reward), collision or success, False, info

    def _goal_distance(self) -> float:
        return float(np.hypot(*(self.data.qpos - self.goal)))

    def _observe(self) -> np.ndarray:
        """[x, y, vx, vy] float32 (4,)."""
        obs = np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float32)
        # The damped motor cannot exceed max_speed; rounding could, by an ulp.
        np.clip(obs[2:], -self.max_speed, self.max_speed, out=obs[2:])
        return obs
