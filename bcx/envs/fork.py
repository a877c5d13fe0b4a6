"""A fork in the road: a MuJoCo point mass must pass a round obstacle on the left or the right.

The body starts at rest near the origin, the goal lies straight ahead at (0, goal_y) and a disc
sits on the start-goal line at (0, obstacle_y). Going around either side is equally short, so an
expert that takes a random side demonstrates two modes from the same start, and a unimodal
policy fit by maximum likelihood averages them into "straight ahead", into the obstacle.

The body is a 1 kg sphere on two slide joints (x, y) in a plane without gravity, pushed by two
motors against joint damping: a constant action a settles at the velocity a * max_speed with the
time constant response_time, so an action is in effect a lagged velocity command and keeps its
side's sign for as long as the body is going around. The obstacle and the goal are drawn in the
model but do not collide (contype 0): touching is decided geometrically after each step, which
keeps stepping cheap and makes "collision" exactly the event the episode ends on.

With ``pixels=True`` the observation also carries a top-down image of the arena
(``bcx.envs.fork_camera``, drawn in numpy): the multi-modal setting learned from pixels. The
image shows where the body is, not how fast it moves nor which side the coin chose.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from bcx.envs import fork_camera
from bcx.errors import BCXError

END_GAP = 0.5  # m between the walls at the ends of the arena and the start / the goal
WALL_SLACK = 0.05  # m; the soft joint limits let the body sink about 1 cm into a wall
RENDER_SIZE = 128  # px, the side of render()'s frames

_XML = """
<mujoco model="fork">
  <option timestep="{timestep}" gravity="0 0 0" integrator="implicitfast"/>
  <compiler autolimits="true"/>
  <worldbody>
    <geom name="obstacle" type="cylinder" size="{obstacle_radius} 0.05" pos="0 {obstacle_y} 0"
          contype="0" conaffinity="0" rgba="0.8 0.2 0.2 1"/>
    <site name="goal" type="sphere" size="{goal_radius}" pos="0 {goal_y} 0"
          rgba="0.2 0.8 0.2 0.5"/>
    <body name="mass">
      <joint name="x" type="slide" axis="1 0 0" damping="{damping}" range="{x_range}"/>
      <joint name="y" type="slide" axis="0 1 0" damping="{damping}" range="{y_range}"/>
      <geom name="mass" type="sphere" size="{body_radius}" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="x" gear="{gear}" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" gear="{gear}" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


SIDE_RULES = ("coin", "start")


class ForkEnv(gym.Env[np.ndarray, np.ndarray]):
    """Reach the goal at (0, goal_y) past a disc at (0, obstacle_y) without touching it.

    Observation, float32, shape (5,) with ``side="coin"`` (the default), else (4,):
    [x, y, vx, vy], the body's position (m) and velocity (m/s); the start is near (0, 0), the
    goal and the obstacle are fixed (constructor arguments), and walls bound the arena to
    |x| <= half_width, -0.5 <= y <= goal_y + 0.5. With ``side="coin"`` a fifth feature holds the
    side the expert takes this episode (-1 left, +1 right), drawn by a fair coin at reset,
    independent of the start: it is **privileged** (``privileged_features = 1``), read by the
    expert and never by a learner, as a human demonstrator's choice is not visible in the state.
    Action, shape (2,), in [-1, 1]: motor forces along x and y; a constant action a settles at
    the velocity a * max_speed within about response_time.
    Reward: metres of progress toward the goal this step (distance before minus after), plus
    goal_bonus on the step that reaches the goal, minus collision_penalty on the step that
    touches the obstacle: about 2.7 for the expert, about 0 for a random policy, about -0.3 for
    driving straight into the obstacle.
    Terminates when the body's centre is within goal_radius of the goal (success) or its sphere
    touches the obstacle (collision); the episode length limit comes from the registration
    (``bcx/Fork-v0``: 200 steps of dt = 0.05 s, the expert needs about 75).
    info, every step: ``success`` (goal reached, obstacle never touched) and ``collision`` (the
    obstacle has been touched).
    Reset: at rest, at a uniform offset of at most start_offset per axis from the origin; then
    (``side="coin"``) the coin. With ``side="start"`` the side of the start-goal line the body
    lands on decides the expert's side instead, so the expert's action is one function of the
    state and least squares can learn the switch (kept as an option, for comparison).

    With ``pixels=True`` the observation is a Dict instead:
        "state"  float32, the vector above (coin included, still privileged)
        "pixels" uint8 (image_size, image_size, 3): the arena from above, x to the right and y
                 up; body blue, obstacle red, goal green (``fork_camera.TopDownCamera``)
    render_mode="rgb_array": ``render()`` gives the same picture, RENDER_SIZE px wide.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        *,
        goal_y: float = 2.0,
        goal_radius: float = 0.3,
        obstacle_y: float = 1.0,
        obstacle_radius: float = 0.3,
        body_radius: float = 0.05,
        start_offset: float = 0.01,
        half_width: float = 1.5,
        max_speed: float = 1.0,
        response_time: float = 0.5,
        goal_bonus: float = 1.0,
        collision_penalty: float = 1.0,
        timestep: float = 0.01,
        frame_skip: int = 5,
        side: str = "coin",
        pixels: bool = False,
        image_size: int = 64,
        render_mode: str | None = None,
    ) -> None:
        """Geometry, dynamics and reward parameters.

        goal_y / obstacle_y: m, the goal's and the obstacle's centres on the y axis.
        goal_radius: m, the body's centre within it has reached the goal.
        obstacle_radius / body_radius: m, the two touch when their centres are closer than the sum.
        start_offset: m, half-width of the uniform start offset per axis; kept small so that the
        start states of both sides look alike to a learner.
        half_width: m, walls (joint limits) at x = +-half_width; the end walls stand END_GAP
        behind the start and beyond the goal, so a lost policy stays in view of the goal.
        max_speed: m/s, the terminal velocity of action 1 per axis; response_time: s, the time
        constant with which the velocity follows the action (mass / damping).
        goal_bonus / collision_penalty: reward added / subtracted on the ending step.
        timestep: s, the MuJoCo step; frame_skip: MuJoCo steps per env step.
        side: what decides the expert's side, "coin" (hidden, per episode) or "start" (the sign
        of the start offset, visible in the state).
        pixels: observe a Dict of the state vector and a top-down image (False: the vector);
        image_size: px, the image's side (at least fork_camera.MIN_SIZE).
        render_mode: None or "rgb_array" (``render()``: the top-down image, RENDER_SIZE px).
        """
        if side not in SIDE_RULES:
            raise BCXError(
                f"env.kwargs.side must be one of {', '.join(SIDE_RULES)} (got {side!r})."
            )
        if render_mode not in (None, "rgb_array"):
            raise BCXError(f'ForkEnv render_mode must be None or "rgb_array", got {render_mode!r}.')
        self.side_rule, self.pixels, self.render_mode = side, bool(pixels), render_mode
        self.privileged_features = 1 if side == "coin" else 0
        self.side = 1.0
        clear = {
            "the start region is clear of the obstacle": obstacle_y - start_offset
            > obstacle_radius + body_radius,
            "the goal is clear of the obstacle": goal_y - goal_radius
            > obstacle_y + obstacle_radius + body_radius,
            "the body fits between the obstacle and the side walls": half_width
            > obstacle_radius + 2 * body_radius,
        }
        for need, ok in clear.items():
            if not ok:
                raise BCXError(
                    f"ForkEnv needs {need}; got goal_y={goal_y}, goal_radius={goal_radius}, "
                    f"obstacle_y={obstacle_y}, obstacle_radius={obstacle_radius}, "
                    f"body_radius={body_radius}, start_offset={start_offset}, "
                    f"half_width={half_width}."
                )
        self.goal = np.array([0.0, float(goal_y)])
        self.obstacle = np.array([0.0, float(obstacle_y)])
        self.goal_radius, self.obstacle_radius = float(goal_radius), float(obstacle_radius)
        self.body_radius, self.start_offset = float(body_radius), float(start_offset)
        self.walls = np.array([[-half_width, -END_GAP], [half_width, goal_y + END_GAP]])
        self.max_speed, self.response_time = float(max_speed), float(response_time)
        self.goal_bonus, self.collision_penalty = float(goal_bonus), float(collision_penalty)
        self.frame_skip = int(frame_skip)
        self.model = mujoco.MjModel.from_xml_string(self._xml(float(timestep)))
        self.data = mujoco.MjData(self.model)
        self.dt = self.model.opt.timestep * self.frame_skip

        # Starting at rest, the damped motor cannot push a velocity component past max_speed
        # (the implicit integrator keeps that bound, and the soft walls absorb, not bounce).
        speed = np.full(2, self.max_speed)
        coin = np.ones(self.privileged_features)
        low = np.concatenate([self.walls[0] - WALL_SLACK, -speed, -coin]).astype(np.float32)
        high = np.concatenate([self.walls[1] + WALL_SLACK, speed, coin]).astype(np.float32)
        self.state_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.observation_space = self.state_space
        image_size = fork_camera.check_size(image_size)  # refused even if unused: a typo shows
        self._camera = self._make_camera(image_size) if self.pixels else None
        self._render_camera = self._make_camera(RENDER_SIZE) if render_mode else None
        if self._camera is not None:
            size = self._camera.size
            image = gym.spaces.Box(0, 255, (size, size, 3), dtype=np.uint8)
            self.observation_space = gym.spaces.Dict({"state": self.state_space, "pixels": image})
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def _xml(self, timestep: float) -> str:
        """The MJCF model: with a mass of 1 kg, damping = 1 / response_time and the motor gear
        (force of action 1) = damping * max_speed."""
        damping = 1.0 / self.response_time
        return _XML.format(
            timestep=timestep,
            obstacle_radius=self.obstacle_radius,
            obstacle_y=self.obstacle[1],
            goal_radius=self.goal_radius,
            goal_y=self.goal[1],
            body_radius=self.body_radius,
            damping=damping,
            gear=damping * self.max_speed,
            x_range=" ".join(map(str, self.walls[:, 0])),
            y_range=" ".join(map(str, self.walls[:, 1])),
        )

    def _make_camera(self, size: int) -> fork_camera.TopDownCamera:
        """A top-down camera over this arena, frames size px wide."""
        return fork_camera.TopDownCamera(
            self.walls,
            self.obstacle,
            self.obstacle_radius,
            self.goal,
            self.goal_radius,
            self.body_radius,
            size,
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Place the body at rest near the origin, toss the side coin -> (obs, info)."""
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self.np_random.uniform(-self.start_offset, self.start_offset, size=2)
        if self.side_rule == "coin":
            self.side = float(self.np_random.choice([-1.0, 1.0]))
        mujoco.mj_forward(self.model, self.data)
        self._distance = self._goal_distance()
        return self._observe(), {"success": False, "collision": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance dt with motor action (2,) in [-1, 1]; returns the gymnasium 5-tuple."""
        self.data.ctrl[:] = action  # MuJoCo clamps it to ctrlrange
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        distance = self._goal_distance()
        progress, self._distance = self._distance - distance, distance
        # A step moves at most sqrt(2) max_speed dt (7 cm by default), far less than the disc and
        # the goal are wide, so checking after each step cannot jump over either.
        collision = bool(
            np.hypot(*(self.data.qpos - self.obstacle)) < self.obstacle_radius + self.body_radius
        )
        success = not collision and distance < self.goal_radius
        reward = progress + self.goal_bonus * success - self.collision_penalty * collision
        info = {"success": success, "collision": collision}
        return self._observe(), float(reward), collision or success, False, info

    def render(self) -> np.ndarray | None:
        """rgb_array mode: the top-down frame (RENDER_SIZE, RENDER_SIZE, 3) uint8 of the current
        state; None without a render mode."""
        if self._render_camera is None:
            return None
        return self._render_camera.render(self.data.qpos)

    def _goal_distance(self) -> float:
        return float(np.hypot(*(self.data.qpos - self.goal)))

    def _observe(self) -> np.ndarray | dict[str, np.ndarray]:
        """[x, y, vx, vy] float32 (4,), then the coin's side with side="coin" (5,); with pixels
        the Dict of that "state" and the "pixels" frame (image_size, image_size, 3) uint8."""
        coin = [self.side] * self.privileged_features
        obs = np.concatenate([self.data.qpos, self.data.qvel, coin]).astype(np.float32)
        # A no-op but for float32 rounding at a bound, which would leave the space by an ulp.
        state = np.clip(obs, self.state_space.low, self.state_space.high)
        if self._camera is None:
            return state
        return {"state": state, "pixels": self._camera.render(self.data.qpos)}
