"""bcx/Lane-v0 and its Stanley expert: contract, determinism, known returns."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest

import bcx.envs
from bcx.envs.lane import LaneEnv
from bcx.errors import BCXError
from bcx.experts.stanley import StanleyExpert

SEEDS = (0, 1, 2)
Policy = Callable[[np.ndarray], np.ndarray]


def run_episode(env: gym.Env, policy: Policy, seed: int) -> tuple[float, dict, int]:
    """Roll out policy: obs (obs_dim,) -> action (1,); returns (return, last info, steps)."""
    obs, info = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        total, steps, done = total + reward, steps + 1, terminated or truncated
    return total, info, steps


def expert_policy(expert: StanleyExpert) -> Policy:
    """Adapt the batched expert to one observation: (obs_dim,) -> (1,) float32."""
    return lambda obs: expert(obs[None])[0].astype(np.float32)


@pytest.fixture
def env() -> gym.Env:
    return gym.make("bcx/Lane-v0")


def test_registered_once_and_makeable():
    importlib.reload(bcx.envs)  # a second registration must be skipped, not fail
    env = gym.make("bcx/Lane-v0")
    assert isinstance(env.unwrapped, LaneEnv)
    assert env.spec.max_episode_steps == 500
    assert env.observation_space.shape == (3 + len(env.unwrapped.preview),)


def test_leaving_the_road_terminates_with_failure(env):
    obs, info = env.reset(seed=0)
    assert info["success"] and not info["left_road"]
    for _ in range(500):
        obs, _, terminated, truncated, info = env.step(np.ones(1, dtype=np.float32))
        if terminated or truncated:
            break
        assert info["success"]
    assert terminated and not truncated
    assert abs(obs[0]) > env.unwrapped.road_width / 2
    assert info["left_road"] and not info["success"]


def test_expert_stays_on_the_road_and_beats_baselines(env):
    expert = StanleyExpert(env=env)
    rng = np.random.default_rng(0)
    baselines = {
        "zero": lambda obs: np.zeros(1, dtype=np.float32),
        "random": lambda obs: rng.uniform(-1, 1, size=1).astype(np.float32),
    }
    for seed in SEEDS:
        ret, info, steps = run_episode(env, expert_policy(expert), seed)
        assert info["success"] and steps == 500
        # Reward is progress in metres: a centred car covers about v * 25 s.
        speed = env.unwrapped._v
        assert ret == pytest.approx(speed * 500 * env.unwrapped.dt, rel=0.02)
        for name, policy in baselines.items():
            base_ret, base_info, _ = run_episode(env, policy, seed)
            assert not base_info["success"], name
            assert ret > 3 * base_ret, name


def test_expert_recovers_from_far_off_centre():
    env = gym.make("bcx/Lane-v0", start_offset=0.7, start_heading=0.15)
    expert = StanleyExpert(env=env)
    for seed in SEEDS:
        assert run_episode(env, expert_policy(expert), seed)[1]["success"]


def test_expert_is_batched_bounded_and_deterministic(env):
    expert = StanleyExpert(env=env)
    obs = env.observation_space.sample()[None].repeat(7, axis=0)
    obs[:, :2] = np.random.default_rng(0).uniform(-3, 3, size=(7, 2))  # include far-off states
    actions = expert(obs)
    assert actions.shape == (7, 1)
    assert np.all(np.abs(actions) <= 1.0)
    rows = np.concatenate([expert(row[None]) for row in obs])
    np.testing.assert_array_equal(actions, rows)
    np.testing.assert_array_equal(actions, expert(obs.copy()))


def test_expert_follows_the_env_preview_length():
    env = gym.make("bcx/Lane-v0", preview=(0.0, 10.0))
    expert = StanleyExpert(env=env)
    assert expert.observation_space.shape == (5,)
    assert run_episode(env, expert_policy(expert), 0)[1]["success"]


def test_expert_rejects_a_wrong_env():
    with pytest.raises(BCXError, match="stanley"):
        StanleyExpert(env=gym.make("InvertedPendulum-v5"))
