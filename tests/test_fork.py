"""bcx/Fork-v0 and its tangent-following expert: contract, determinism, flags, both modes."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch

import bcx.envs
from bcx.envs.fork import ForkEnv
from bcx.errors import BCXError
from bcx.experts.fork import ForkExpert

SEEDS = range(20)
Policy = Callable[[np.ndarray], np.ndarray]


def run_episode(env: gym.Env, policy: Policy, seed: int) -> tuple[float, dict, np.ndarray]:
    """Roll out policy: obs (5,) -> action (2,); returns (return, last info, positions (T+1, 2))."""
    obs, info = env.reset(seed=seed)
    total, positions, done = 0.0, [obs[:2]], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        total, done = total + reward, terminated or truncated
        positions.append(obs[:2])
    return total, info, np.array(positions)


def expert_policy(expert: ForkExpert) -> Policy:
    """Adapt the batched expert to one observation: (5,) -> (2,) float32."""
    return lambda obs: expert(obs[None])[0].astype(np.float32)


@pytest.fixture
def env() -> gym.Env:
    return gym.make("bcx/Fork-v0")


def test_registered_once_and_makeable():
    importlib.reload(bcx.envs)  # a second registration must be skipped, not fail
    env = gym.make("bcx/Fork-v0")
    assert isinstance(env.unwrapped, ForkEnv)
    assert env.spec.max_episode_steps == 200
    assert env.observation_space.shape == (5,) and env.action_space.shape == (2,)
    fork = env.unwrapped
    assert fork.privileged_features == 1 and bcx.envs.learner_features(env) == 4
    old = gym.make("bcx/Fork-v0", side="start")
    assert old.observation_space.shape == (4,) and bcx.envs.learner_features(old) == 4
    assert fork.model.nq == 2 and fork.model.nu == 2 and fork.frame_skip == 5
    assert fork.data.qpos.shape == (2,)


def test_driving_straight_ahead_hits_the_obstacle(env):
    obs, info = env.reset(seed=0)
    assert not info["success"] and not info["collision"]
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], np.float32))
        if terminated or truncated:
            break
        assert not info["success"] and not info["collision"]
    fork = env.unwrapped
    assert terminated and not truncated
    assert info["collision"] and not info["success"]
    assert np.hypot(*(obs[:2] - fork.obstacle)) < fork.obstacle_radius + fork.body_radius
    assert reward < 0  # the collision penalty outweighs one step of progress


def test_expert_goes_around_either_side_and_beats_random(env):
    expert = ForkExpert(env=env)
    rng = np.random.default_rng(0)
    random = lambda obs: rng.uniform(-1, 1, size=2).astype(np.float32)  # noqa: E731
    sides, returns, start_sides = [], [], []
    for seed in SEEDS:
        ret, info, positions = run_episode(env, expert_policy(expert), seed)
        assert info["success"] and not info["collision"], seed
        widest = positions[np.argmax(np.abs(positions[:, 0])), 0]
        # It passes well clear of the line, on the side the episode's hidden coin chose.
        assert abs(widest) > env.unwrapped.obstacle_radius
        assert np.sign(widest) == env.unwrapped.side
        sides.append(widest > 0)
        start_sides.append(np.sign(widest) == np.sign(positions[0, 0]))
        returns.append(ret)
    assert 0.25 <= np.mean(sides) <= 0.75
    assert 0.25 <= np.mean(start_sides) <= 0.75  # the start does not give the side away
    # Progress (~1.7 m to the goal's edge) plus the goal bonus.
    assert np.mean(returns) == pytest.approx(2.7, abs=0.1)
    random_runs = [run_episode(env, random, seed)[:2] for seed in range(5)]
    assert not any(info["success"] for _, info in random_runs)
    assert max(ret for ret, _ in random_runs) < 0.5


def test_expert_is_bimodal_at_the_start(env):
    """The same start with the two coins gets opposite lateral actions: the two modes, which
    nothing a learner sees tells apart."""
    expert = ForkExpert(env=env)
    actions = expert(np.array([[0.0, 0.0, 0.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0, 1.0]]))
    assert actions[0, 0] < -0.3 and actions[1, 0] > 0.3
    assert actions[0, 1] == pytest.approx(actions[1, 1])


def test_the_coin_labels_every_state_of_its_episode(env):
    """A learner's state clearly right of the line: the left coin still says go left, so
    on-policy labels stay bimodal given what the learner sees."""
    actions = ForkExpert(env=env)(np.array([[0.1, 0.3, 0.0, 0.5, -1.0], [0.1, 0.3, 0.0, 0.5, 1.0]]))
    assert actions[0, 0] < -0.3 and actions[1, 0] > 0.3


def test_with_a_commit_distance_the_expert_keeps_the_side_the_body_is_on(env):
    """The option: past commit_distance both coins say go on right."""
    expert = ForkExpert(env=env, commit_distance=0.05)
    actions = expert(np.array([[0.1, 0.3, 0.0, 0.5, -1.0], [0.1, 0.3, 0.0, 0.5, 1.0]]))
    np.testing.assert_array_equal(actions[0], actions[1])
    assert actions[0, 0] > 0.3


def test_the_start_rule_keeps_the_old_state_determined_expert():
    env = gym.make("bcx/Fork-v0", side="start")
    expert = ForkExpert(env=env)
    actions = expert(np.array([[-0.001, 0.0, 0.0, 0.0], [0.001, 0.0, 0.0, 0.0]]))
    assert actions[0, 0] < -0.3 and actions[1, 0] > 0.3
    for seed in range(6):
        _, info, positions = run_episode(env, expert_policy(expert), seed)
        widest = positions[np.argmax(np.abs(positions[:, 0])), 0]
        assert info["success"] and np.sign(widest) == np.sign(positions[0, 0])


def test_an_unknown_side_rule_is_refused():
    with pytest.raises(BCXError, match="env.kwargs.side must be one of coin, start"):
        ForkEnv(side="sign")


def test_expert_is_batched_bounded_and_deterministic(env):
    expert = ForkExpert(env=env)
    rng = np.random.default_rng(0)
    # Include states a learner may reach: inside the safety circle, behind it, far away, fast.
    coins = rng.choice([-1.0, 1.0], size=(7, 1))
    obs = np.concatenate(
        [rng.uniform(-2, 3, size=(7, 2)), rng.uniform(-1, 1, size=(7, 2)), coins], axis=1
    )
    obs[0, :2] = (0.05, 1.4)
    obs[1, :2] = (-0.38, 0.9)
    actions = expert(obs.astype(np.float32))
    assert actions.shape == (7, 2)
    assert np.all(np.abs(actions) <= 1.0) and np.all(np.isfinite(actions))
    rows = np.concatenate([expert(row[None]) for row in obs.astype(np.float32)])
    np.testing.assert_array_equal(actions, rows)
    np.testing.assert_array_equal(actions, expert(obs.astype(np.float32).copy()))


def test_expert_rejects_a_wrong_env():
    with pytest.raises(BCXError, match="fork"):
        ForkExpert(env=gym.make("InvertedPendulum-v5"))


def test_env_rejects_an_obstacle_over_the_start():
    with pytest.raises(BCXError, match="start region.*obstacle_radius=1.0"):
        ForkEnv(obstacle_radius=1.0)


def test_walls_keep_the_body_inside_the_observation_space(env):
    """Full thrust into a corner, then into the opposite one: observations stay in the space."""
    env.reset(seed=0)
    for action in ([1.0, 1.0], [-1.0, -1.0]):
        for _ in range(150):
            obs, *_ = env.unwrapped.step(np.array(action, np.float32))
            assert env.observation_space.contains(obs)
        np.testing.assert_allclose(obs[:2], env.unwrapped.walls[int(action[0] > 0)], atol=0.02)


def test_a_learner_never_reads_the_coin(env, make_cfg):
    """The policy is sized to the 4 visible features and acts the same whatever the coin says."""
    from bcx.builders import build_head, build_policy
    from bcx.data.demos import collect

    cfg = make_cfg("env=fork", "policy=gmm")
    demos = collect(ForkExpert(env=env), [env], range(4))
    policy = build_policy(cfg, env, demos, build_head(cfg, env))
    assert policy.obs_mean.shape == (4,)
    obs = torch.as_tensor(demos.obs[:50])
    flipped = obs.clone()
    flipped[:, 4] *= -1
    torch.testing.assert_close(policy.act(obs), policy.act(flipped))


@pytest.mark.parametrize("bad", [-0.1, float("inf"), "far", True])
def test_a_bad_commit_distance_is_refused(env, bad):
    with pytest.raises(BCXError, match="expert.commit_distance must be null .* or a finite number"):
        ForkExpert(env=env, commit_distance=bad)
