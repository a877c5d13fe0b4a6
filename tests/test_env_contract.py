"""Every env of the `env` group: gymnasium's checker passes (bcx's own envs without a warning)
and the same reset seed gives the same trajectory."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from omegaconf import OmegaConf

from bcx.builders import make_envs
from bcx.conf_dir import CONF_DIR
from tests.test_configs import options


def env_config(name: str):
    return OmegaConf.load(f"{CONF_DIR}/env/{name}.yaml")


@pytest.mark.parametrize("name", [n for n in options("env") if env_config(n).id.startswith("bcx/")])
def test_bcx_env_passes_the_checker_without_warnings(name):
    env = make_envs(env_config(name), 1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("name", options("env"))
def test_same_seed_same_trajectory(name):
    env = make_envs(env_config(name), 1)[0]
    space: gym.spaces.Box = env.action_space
    # Small actions keep every env (e.g. the car on its road) running for all 40 steps.
    unit = np.random.default_rng(7).uniform(-0.1, 0.1, size=(40, *space.shape))
    actions = (space.low + space.high) / 2 + unit * (space.high - space.low) / 2

    def trajectory(seed: int) -> np.ndarray:
        parts = [env.reset(seed=seed)[0]]
        for action in actions.astype(space.dtype):
            obs, reward, terminated, truncated, _ = env.step(action)
            parts += [obs, [reward]]
            if terminated or truncated:
                break
        return np.concatenate(parts)

    np.testing.assert_array_equal(trajectory(3), trajectory(3))
    assert not np.array_equal(trajectory(3), trajectory(4))
