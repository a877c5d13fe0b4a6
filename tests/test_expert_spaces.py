"""An expert carries the spaces it was built for, never the env's, so the app's space check
(``check_matches_env``) can fail: a Reacher controller on InvertedPendulum, an SB3 model trained
on another env, an expert scaled for other action bounds. Each stops with one line naming the
expert, the env and both spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC

from bcx.builders import build_expert, make_envs
from bcx.errors import BCXError
from bcx.experts.base import Expert, box, check_matches_env
from bcx.experts.lqr import LQRExpert

PENDULUM = "InvertedPendulum-v5"


def failure(cfg) -> str:
    """The one-line error of building cfg's expert on cfg's env, as the app builds it."""
    with pytest.raises(BCXError) as error:
        build_expert(cfg, make_envs(cfg.env, 1)[0])
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_reacher_expert_on_inverted_pendulum_names_both_shapes(make_cfg):
    message = failure(make_cfg("env=inverted_pendulum", "expert=pd"))
    assert message.startswith(
        f"expert 'pd' serves observations of shape (10,) and actions of shape (2,), but env "
        f"{PENDULUM} has (4,) and (1,);"
    )


def test_an_sb3_model_of_another_env_names_both_shapes(make_cfg, tmp_path):
    path = tmp_path / "sac_reacher.zip"
    SAC("MlpPolicy", "Reacher-v5", policy_kwargs={"net_arch": [8]}, seed=0).save(path)
    cfg = make_cfg("env=inverted_pendulum", "expert=sb3", f"expert.path={path}", "expert.algo=sac")
    message = failure(cfg)
    assert message.startswith(f"expert.path={path} was trained on another env: expert 'sb3' ")
    assert f"shape (10,) and actions of shape (2,), but env {PENDULUM} has (4,) and (1,)" in message


def test_an_expert_for_other_action_bounds_names_both():
    """The LQR gain acts in the model's raw control units ([-3, 3]); behind a wrapper that
    rescales the env's actions to [-1, 1] its labels would be three times too large."""
    unit = np.ones(1, dtype=np.float32)
    env = gym.wrappers.RescaleAction(gym.make(PENDULUM), -unit, unit)
    tuning = {"state_cost": [1.0, 10.0, 0.1, 0.1], "action_cost": 0.1, "observation": "qpos_qvel"}
    with pytest.raises(BCXError) as error:
        LQRExpert(env=env, **tuning)
    assert str(error.value).startswith(
        f"expert 'lqr' acts within [-3.] to [3.] but env {PENDULUM}'s action bounds are "
        "[-1.] to [1.];"
    )


class Fixed(Expert):
    """An expert of given spaces that ignores its env, as a user's expert may."""

    def __init__(self, observation_space, action_space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros((len(obs), *self.action_space.shape))


@pytest.mark.parametrize(
    ("expert", "says"),
    [
        (Fixed(box((4,)), box((1,), -3.0, 3.0)), None),  # the env's: passes
        (Fixed(box((5,)), box((1,), -3.0, 3.0)), "serves observations of shape (5,)"),
        (Fixed(box((4,)), box((2,), -3.0, 3.0)), "actions of shape (2,), but env"),
        (Fixed(box((4,)), box((1,), -1.0, 1.0)), "acts within [-1.] to [1.]"),
        (Fixed(None, box((1,))), "must set observation_space and action_space"),
    ],
)
def test_check_matches_env_compares_the_experts_own_spaces(expert, says):
    env = gym.make(PENDULUM)
    if says is None:
        check_matches_env(expert, env, "mine")
        return
    with pytest.raises(BCXError, match=r"^expert 'mine' ") as error:
        check_matches_env(expert, env, "mine")
    assert says in str(error.value)
