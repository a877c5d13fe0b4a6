"""expert=sb3 labels with exactly the saved model's deterministic actions, and every bad
``expert.*`` value fails at construction with a message naming the key."""

from __future__ import annotations

import zipfile

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from bcx.errors import BCXError
from bcx.experts.base import check_matches_env
from bcx.experts.sb3 import SB3Expert


def small() -> dict:
    """Fresh policy_kwargs for a tiny net: SB3 adds keys to the dict it is given."""
    return {"net_arch": [16, 16]}


@pytest.fixture(scope="module")
def sac_file(tmp_path_factory):
    """A SAC briefly trained on Pendulum-v1, saved: a non-trivial deterministic policy."""
    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=100, policy_kwargs=small(), seed=0)
    model.learn(300)
    path = tmp_path_factory.mktemp("sb3") / "sac_pendulum.zip"
    model.save(path)
    return path


@pytest.fixture
def env():
    return gym.make("Pendulum-v1")


def observations(env, count=16):
    env.observation_space.seed(0)
    return np.stack([env.observation_space.sample() for _ in range(count)])


def test_actions_are_the_models_deterministic_actions(sac_file, env):
    expert = SB3Expert(env=env, path=str(sac_file), algo="sac")
    check_matches_env(expert, env, "sb3")
    obs = observations(env)
    actions = expert(obs)
    expected, _ = SAC.load(sac_file, device="cpu").predict(obs, deterministic=True)
    assert actions.shape == (16, 1) and actions.dtype == np.float64
    np.testing.assert_allclose(actions, np.clip(expected, -2.0, 2.0), rtol=1e-6)
    assert np.all(np.abs(actions) <= 2.0)
    assert np.ptp(actions) > 0  # the policy depends on the state


def test_vecnormalize_statistics_are_applied(sac_file, env, tmp_path):
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), clip_obs=1.5)
    venv.seed(0)
    venv.reset()
    for _ in range(50):  # move the running statistics away from (0, 1)
        venv.step(np.array([venv.action_space.sample()]))
    stats_file = tmp_path / "vecnormalize.pkl"
    venv.save(stats_file)

    expert = SB3Expert(env=env, path=str(sac_file), algo="sac", vecnormalize=str(stats_file))
    obs = observations(env)
    expected, _ = SAC.load(sac_file, device="cpu").predict(
        venv.normalize_obs(obs), deterministic=True
    )
    np.testing.assert_allclose(expert(obs), expected, rtol=1e-6)
    assert not np.allclose(expert(obs), SB3Expert(env=env, path=str(sac_file), algo="sac")(obs))


def error(**kwargs) -> str:
    with pytest.raises(BCXError) as info:
        SB3Expert(**{"env": gym.make("Pendulum-v1"), "algo": "sac", **kwargs})
    return str(info.value)


def test_missing_path_and_unknown_algo_fail_naming_the_key(sac_file, tmp_path):
    assert "expert.path is not set" in error(path=None)
    assert "expert.path" in error(path=str(tmp_path / "nope.zip"))
    message = error(path=str(sac_file), algo="trpo")
    assert "expert.algo='trpo'" in message and "sac, td3, ddpg, ppo, a2c" in message


def test_files_that_are_not_sb3_models_fail(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(np.random.default_rng(0).bytes(256))
    assert "not a stable-baselines3 model file" in error(path=str(junk))
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:  # a genuine zip without SB3's "data"
        archive.writestr("notes.txt", "hello")
    assert "not a stable-baselines3 model file" in error(path=str(other_zip))


def test_a_model_of_another_algorithm_fails_naming_it(tmp_path):
    path = tmp_path / "ppo.zip"
    PPO("MlpPolicy", "Pendulum-v1", n_steps=8, batch_size=8, policy_kwargs=small()).save(path)
    message = error(path=str(path), algo="sac")
    assert "holds a ppo model" in message and "expert.algo=ppo" in message
    assert SB3Expert(env=gym.make("Pendulum-v1"), path=str(path), algo="ppo")(
        observations(gym.make("Pendulum-v1"))
    ).shape == (16, 1)


def test_a_model_for_another_env_fails_naming_the_spaces(tmp_path):
    other_env = tmp_path / "inverted_pendulum.zip"
    SAC("MlpPolicy", "InvertedPendulum-v5", policy_kwargs=small()).save(other_env)
    message = error(path=str(other_env))
    assert "expert.path" in message and "(4,)" in message and "(3,)" in message

    rescaled = tmp_path / "rescaled.zip"
    unit = np.ones(1, dtype=np.float32)
    env = gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), -unit, unit)
    SAC("MlpPolicy", env, policy_kwargs=small()).save(rescaled)
    assert "action bounds" in error(path=str(rescaled))


def test_bad_vecnormalize_files_fail(sac_file, tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    assert "expert.vecnormalize" in error(path=str(sac_file), vecnormalize=str(junk))
    wrong = tmp_path / "wrong.pkl"
    VecNormalize(DummyVecEnv([lambda: gym.make("InvertedPendulum-v5")])).save(wrong)
    message = error(path=str(sac_file), vecnormalize=str(wrong))
    assert "expert.vecnormalize" in message and "(4,)" in message
