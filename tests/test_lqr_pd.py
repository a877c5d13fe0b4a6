"""LQR (pendulums) and Jacobian-transpose PD (Reacher) experts: they reach their known returns,
their maths checks out against MuJoCo, they are batched, and they fail clearly on a wrong env."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import hydra
import mujoco
import numpy as np
import pytest
from omegaconf import OmegaConf

from bcx.errors import BCXError
from bcx.experts.base import Expert, check_matches_env
from bcx.experts.lqr import LQRExpert
from bcx.experts.pd import PDExpert, planar_jacobian

CONF = Path(__file__).resolve().parents[1] / "conf" / "expert"

# The tunings of REFERENCE.md (where the env yamls' env.lqr blocks should match).
LQR_TUNING = {
    "InvertedPendulum-v5": dict(
        state_cost=[1, 10, 0.1, 0.1], action_cost=0.1, observation="qpos_qvel"
    ),
    "InvertedDoublePendulum-v5": dict(
        state_cost=[1, 100, 100, 1, 10, 10], action_cost=1.0, observation="cart_sincos"
    ),
}
# Known returns over one seeded episode (REFERENCE.md: 1000 +- 0 and 9359.9 +- 0.1).
LQR_RETURN = {"InvertedPendulum-v5": 1000.0, "InvertedDoublePendulum-v5": 9359.9}


def build_expert(env: gym.Env) -> Expert:
    """The expert that serves env, tuned as REFERENCE.md."""
    if env.spec.id in LQR_TUNING:
        return LQRExpert(env=env, **LQR_TUNING[env.spec.id])
    return PDExpert(env=env)


def make_expert(env_id: str) -> tuple[gym.Env, Expert]:
    """A fresh env and the expert that serves it."""
    env = gym.make(env_id)
    return env, build_expert(env)


def episode_return(env: gym.Env, policy: Callable[[np.ndarray], np.ndarray], seed: int) -> float:
    """Undiscounted return of one seeded episode; policy maps obs (obs_dim,) -> action."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        done = terminated or truncated
    return total


def visited_obs(env: gym.Env, n: int, seed: int = 0) -> np.ndarray:
    """n observations from a random-action walk, restarted on termination: (n, obs_dim)."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    rows = []
    for _ in range(n):
        rows.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return np.stack(rows)


@pytest.mark.parametrize("env_id", list(LQR_TUNING))
def test_lqr_gain_stabilizes_linearization(env_id: str) -> None:
    _, expert = make_expert(env_id)
    closed_loop = expert.a - expert.b @ expert.k
    assert np.max(np.abs(np.linalg.eigvals(closed_loop))) < 1.0


@pytest.mark.parametrize("env_id", list(LQR_TUNING))
def test_lqr_keeps_pendulum_up_for_an_episode(env_id: str) -> None:
    env, expert = make_expert(env_id)
    check_matches_env(expert, env, "lqr")
    total = episode_return(env, lambda obs: expert(obs[None])[0], seed=0)
    assert total == pytest.approx(LQR_RETURN[env_id], abs=1.0)


def test_pd_jacobian_matches_mujoco() -> None:
    env, expert = make_expert("Reacher-v5")
    model = env.unwrapped.model
    data = mujoco.MjData(model)
    tip = model.body("fingertip").id
    rng = np.random.default_rng(0)
    q = rng.uniform(-np.pi, np.pi, size=(8, 2))
    analytic = planar_jacobian(q, expert.links)
    for qi, jac in zip(q, analytic, strict=True):
        data.qpos[:2] = qi
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        jacp = np.zeros((3, model.nv))
        mujoco.mj_jacBody(model, data, jacp, None, tip)
        np.testing.assert_allclose(jac, jacp[:2, :2], atol=1e-12)


def test_pd_beats_zero_action_and_random() -> None:
    env, expert = make_expert("Reacher-v5")
    policies = {
        "pd": lambda obs: expert(obs[None])[0],
        "zero": lambda obs: np.zeros(2),
        "random": lambda obs: env.action_space.sample(),
    }
    mean = {
        name: np.mean([episode_return(env, policy, seed) for seed in range(5)])
        for name, policy in policies.items()
    }
    assert mean["pd"] > mean["zero"] + 3.0 and mean["zero"] > mean["random"]


@pytest.mark.parametrize("env_id", [*LQR_TUNING, "Reacher-v5"])
def test_batched_call_equals_row_by_row(env_id: str) -> None:
    env, expert = make_expert(env_id)
    obs = visited_obs(env, 5)
    actions = expert(obs)
    assert actions.shape == (5, *env.action_space.shape)
    rows = np.concatenate([expert(row[None]) for row in obs])
    np.testing.assert_array_equal(actions, rows)
    assert np.all(actions >= env.action_space.low) and np.all(actions <= env.action_space.high)


@pytest.mark.parametrize("env_id", [*LQR_TUNING, "Reacher-v5"])
def test_expert_leaves_env_state_alone(env_id: str) -> None:
    action = np.full(gym.make(env_id).action_space.shape, 0.1)
    untouched = gym.make(env_id)
    untouched.reset(seed=3)
    expected = untouched.step(action)[0]

    env = gym.make(env_id)
    obs, _ = env.reset(seed=3)
    expert = build_expert(env)  # built after reset: linearizing must not move the env either
    expert(np.stack([obs, obs]))
    np.testing.assert_array_equal(env.step(action)[0], expected)


def test_lqr_without_tuning_names_the_env_keys() -> None:
    with pytest.raises(BCXError, match=r"no tuning.*env\.lqr\.state_cost.*cart_sincos"):
        LQRExpert(env=gym.make("InvertedPendulum-v5"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(observation="angles"), r"allowed values: qpos_qvel, cart_sincos"),
        (dict(state_cost=[1, 1, 1]), r"length nq \+ nv = 4"),
        (dict(observation="cart_sincos"), r"expert 'lqr' serves observations of shape \(6,\)"),
    ],
)
def test_lqr_bad_tuning_is_a_bcx_error(change: dict, message: str) -> None:
    tuning = {**LQR_TUNING["InvertedPendulum-v5"], **change}
    with pytest.raises(BCXError, match=message):
        LQRExpert(env=gym.make("InvertedPendulum-v5"), **tuning)


def test_lqr_on_reacher_is_a_bcx_error() -> None:
    with pytest.raises(BCXError, match="expert 'lqr'"):
        LQRExpert(env=gym.make("Reacher-v5"), **LQR_TUNING["InvertedDoublePendulum-v5"])


def test_pd_on_pendulum_is_a_bcx_error() -> None:
    with pytest.raises(BCXError, match=r"expert 'pd' serves observations of shape \(10,\)"):
        PDExpert(env=gym.make("InvertedPendulum-v5"))


def test_lqr_yaml_reads_tuning_from_env_config() -> None:
    expert_cfg = OmegaConf.load(CONF / "lqr.yaml")
    tuned = OmegaConf.create({"env": {"lqr": LQR_TUNING["InvertedPendulum-v5"]}})
    tuned.expert = expert_cfg
    build = hydra.utils.instantiate(tuned.expert)
    expert = build(env=gym.make("InvertedPendulum-v5"))
    assert expert.k.shape == (1, 4)

    untuned = OmegaConf.create({"env": {"id": "InvertedPendulum-v5"}})
    untuned.expert = expert_cfg
    with pytest.raises(BCXError, match="no tuning"):
        hydra.utils.instantiate(untuned.expert)(env=gym.make("InvertedPendulum-v5"))
