"""bcx/Lane-v0's cameras (bcx.envs.lane_camera): spaces, the picture's geometry, NVIDIA's
viewpoint synthesis against an exact re-render, errors."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy.spatial import cKDTree

from bcx.envs import lane_camera
from bcx.envs.lane import LaneEnv
from bcx.errors import BCXError

CAMERAS = ("center", "left", "right")
N_VECTOR = 3 + 8  # d, psi, v and the default curvature preview


@pytest.fixture(scope="module")
def env() -> LaneEnv:
    return LaneEnv(cameras=CAMERAS, image_size=64)


@pytest.fixture(scope="module")
def state(env) -> np.ndarray:
    """A "state" row 20 steps into seed 3's episode (driving straight on: off-centre, skewed)."""
    env.reset(seed=3)
    for _ in range(20):
        obs, *_ = env.step(np.zeros(1, dtype=np.float32))
    return obs["state"]


def with_pose(state: np.ndarray, d: float, psi: float) -> np.ndarray:
    moved = state.copy()
    moved[:2] = d, psi
    return moved


def road_column(image: np.ndarray) -> float:
    """Mean column, px, of the road's pixels (asphalt or marking: grey, R = G = B roughly)."""
    rgb = image.astype(int)
    road = (np.abs(rgb[..., 0] - rgb[..., 1]) < 20) & (np.abs(rgb[..., 1] - rgb[..., 2]) < 20)
    return float(np.nonzero(road)[1].mean())


def test_spaces_and_dtypes(env):
    obs, _ = env.reset(seed=0)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert (
        set(obs) == set(env.observation_space) == {"state", "pixels", "pixels/left", "pixels/right"}
    )
    assert env.observation_space.contains(obs)
    for key in ("pixels", "pixels/left", "pixels/right"):
        assert obs[key].dtype == np.uint8 and obs[key].shape == (64, 64, 3)
    n = env.n_waves
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (N_VECTOR + 1 + 3 * n,)
    assert env.privileged_features == 1 + 3 * n
    assert obs["state"][N_VECTOR] == 0.0  # s at the start
    np.testing.assert_array_equal(obs["state"][-n:], env._amplitude.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(LaneEnv(cameras=("left",), image_size=16), skip_render_check=True)


def test_no_cameras_keeps_the_box_observation_and_its_numbers():
    default, explicit = gym.make("bcx/Lane-v0"), gym.make("bcx/Lane-v0", cameras=(), image_size=32)
    camera = gym.make("bcx/Lane-v0", cameras=["center"], image_size=16)
    assert explicit.observation_space == default.observation_space
    assert isinstance(default.observation_space, gym.spaces.Box)
    assert getattr(default.unwrapped, "privileged_features", 0) == 0
    first = [default.reset(seed=4)[0], explicit.reset(seed=4)[0], camera.reset(seed=4)[0]]
    for step in range(40):
        action = np.array([0.1 * np.sin(step / 5)], dtype=np.float32)
        a, b, c = default.step(action), explicit.step(action), camera.step(action)
        assert a[0].tobytes() == b[0].tobytes() == c[0]["state"][:N_VECTOR].tobytes()
        assert a[1:] == b[1:] == c[1:]
    assert first[0].tobytes() == first[1].tobytes() == first[2]["state"][:N_VECTOR].tobytes()


def test_frames_are_rerendered_exactly_from_the_state(env):
    obs, _ = env.reset(seed=1)
    for _ in range(5):
        obs, *_ = env.step(np.full(1, 0.05, dtype=np.float32))
    for name in CAMERAS:
        key = "pixels" if name == "center" else f"pixels/{name}"
        np.testing.assert_array_equal(env.render_state(obs["state"], name), obs[key])


def test_picture_moves_against_the_car(env, state):
    """The car moving or turning left puts the road further right in the picture."""
    columns = [road_column(env.render_state(with_pose(state, d, 0.0))) for d in (-0.6, 0.0, 0.6)]
    assert columns[0] + 2 < columns[1] < columns[2] - 2
    columns = [road_column(env.render_state(with_pose(state, 0.0, p))) for p in (-0.1, 0.0, 0.1)]
    assert columns[0] + 2 < columns[1] < columns[2] - 2


def test_side_cameras_see_the_road_from_the_side(env, state):
    frames = {name: env.render_state(state, name) for name in CAMERAS}
    assert not np.array_equal(frames["left"], frames["center"])
    assert not np.array_equal(frames["right"], frames["center"])
    columns = [road_column(frames[name]) for name in ("right", "center", "left")]
    assert columns[0] + 2 < columns[1] < columns[2] - 2


def test_edges_are_visible_at_32_px(env, state):
    """Both road edges show at 32x32: grass on both sides of the road in the lower rows."""
    frame = env.render_state(state, size=32).astype(int)
    grass = frame[..., 1] > frame[..., 0] + 30
    row = grass[20]  # ~8 m ahead
    road = np.flatnonzero(~row)
    assert road.size and row[: road[0]].all() and row[road[-1] + 1 :].all()
    assert road[0] > 0 and road[-1] < 31


@pytest.mark.parametrize(
    ("camera", "shift", "rotation"),
    [("center", 0.3, 0.0), ("center", 0.0, 0.05), ("center", -0.2, 0.04), ("left", 0.4, -0.05)],
)
def test_synthesized_view_matches_the_rerender(env, state, camera, shift, rotation):
    """NVIDIA's warp of a frame is close to the frame rendered from the moved car; a warp by the
    opposite displacement is far from it (measured: close 2-5, opposite 15-36, gray levels)."""
    frame = env.render_state(state, camera)
    truth = env.render_state(state, camera, shift, rotation)
    horizon = lane_camera._rays(lane_camera.get_camera(camera), 64)[0]

    def error(image: np.ndarray) -> float:  # mean |difference| on the ground, gray levels
        return float(np.abs(image[horizon:].astype(int) - truth[horizon:]).mean())

    warped = lane_camera.synthesize_view(frame, camera, shift, rotation)
    np.testing.assert_array_equal(warped[:horizon], truth[:horizon])  # the sky stays
    assert error(warped) < 7.0
    assert error(lane_camera.synthesize_view(frame, camera, -shift, -rotation)) > 12.0
    batch = lane_camera.synthesize_view(
        np.stack([frame, truth]), camera, [shift, 0.2], [rotation, -0.1]
    )  # one warp per image
    np.testing.assert_array_equal(batch[0], warped)
    np.testing.assert_array_equal(batch[1], lane_camera.synthesize_view(truth, camera, 0.2, -0.1))


def test_lateral_distance_matches_a_brute_force_nearest_point():
    """Newton's projection onto the centre line agrees with the nearest point of a finely
    sampled centre line wherever the answer matters (within 3 m of it), on a tight road."""
    road = lane_camera.Road(np.array([0.2, 0.07]), np.array([0.3, 2.0]), np.array([0.05, 0.03]))
    s, d, psi = 40.0, 0.8, -0.3
    u = np.arange(-lane_camera.LOOK_BEHIND, lane_camera.LOOK_AHEAD, 0.005)
    theta = np.cos(np.outer(s + u, road.wavenumber) + road.phase) @ (
        -road.amplitude / road.wavenumber
    )
    tangent = np.exp(1j * (theta - np.interp(0.0, u, theta)))
    line = np.cumsum(tangent) * 0.005
    line -= np.interp(0.0, u, line.real) + 1j * np.interp(0.0, u, line.imag)
    _, near, xy = lane_camera._rays(lane_camera.CAMERAS["center"], 64)
    points = 1j * d + np.exp(1j * psi) * xy
    lateral = lane_camera._lateral(road, s, points)
    distance, nearest = cKDTree(np.c_[line.real, line.imag]).query(np.c_[points.real, points.imag])
    side = np.sign(((points - line[nearest]) * tangent[nearest].conj()).imag)
    matters = distance < 3.0
    assert matters.sum() > 500
    np.testing.assert_allclose(lateral[matters], (side * distance)[matters], atol=0.02)


def test_render_mode_rgb_array():
    env = LaneEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (128, 128, 3)
    assert "rgb_array" in env.metadata["render_modes"]
    plain = LaneEnv()
    plain.reset(seed=0)
    assert plain.render() is None


def test_bad_arguments_raise_bcx_errors(env, state):
    with pytest.raises(BCXError, match="center, left, right"):
        LaneEnv(cameras=("roof",))
    with pytest.raises(BCXError, match="center, left, right"):
        env.render_state(state, "rear")
    with pytest.raises(BCXError, match="repeat"):
        LaneEnv(cameras=("left", "left"))
    with pytest.raises(BCXError, match=">= 16"):
        LaneEnv(cameras=("center",), image_size=8)
    with pytest.raises(BCXError, match=">= 16"):
        lane_camera.render(lane_camera.Road(*np.ones((3, 1))), 0.0, 0.0, 0.0, "center", 15)
    with pytest.raises(BCXError, match="state row"):
        env.render_state(state[:-1])


def test_leaving_the_road_still_terminates():
    env = gym.make("bcx/Lane-v0", cameras=("center", "right"), image_size=16)
    obs, info = env.reset(seed=0)
    for _ in range(500):
        obs, _, terminated, truncated, info = env.step(np.ones(1, dtype=np.float32))
        if terminated or truncated:
            break
    assert terminated and not truncated and info["left_road"] and not info["success"]
    assert abs(obs["state"][0]) > env.unwrapped.road_width / 2
    assert env.observation_space.contains(obs)
