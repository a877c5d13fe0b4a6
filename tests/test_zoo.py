"""The expert zoo: ``bcx-expert`` trains, resumes, exports and evaluates; shipped experts load
with torch alone, act deterministically in batches, meet their bar and beat a random policy."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from stable_baselines3 import SAC

from bcx.conf_dir import CONF_DIR
from bcx.errors import BCXError
from bcx.experts import zoo
from bcx.experts.zoo import ZooExpert
from bcx.rollout import random_policy, rollout
from bcx.tools.expert_training import BEST_FILE, BEST_ZOO, MODEL_FILE, PROGRESS_FILE, train_expert

# The bar per task (return over 20 episodes, recorded in each expert's meta.json).
REQUIRED_RETURN = {"Hopper-v5": 2500, "HalfCheetah-v5": 5000, "Walker2d-v5": 3000, "Ant-v5": 2500}


def expert_train_cfg(tmp_path, *overrides):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose(
            "expert_train",
            overrides=[
                "env=inverted_pendulum",
                "sac.learning_starts=100",
                "sac.buffer_size=2000",
                "sac.policy_kwargs.net_arch=[32,32]",
                "progress_episodes=2",
                "eval_episodes=3",
                "checkpoint_every=150",
                f"zoo_dir={tmp_path / 'zoo'}",
                f"work_dir={tmp_path / 'work'}",
                *overrides,
            ],
        )


def test_bcx_expert_trains_resumes_and_ships_an_actor_equal_to_sacs(tmp_path):
    meta = train_expert(expert_train_cfg(tmp_path, "steps=150"))
    assert meta["steps"] == 150
    meta = train_expert(expert_train_cfg(tmp_path, "steps=300"))  # resumes at step 150
    assert meta["steps"] == 300
    progress = (tmp_path / "work" / PROGRESS_FILE).read_text().splitlines()
    assert [line.split(",")[0] for line in progress[1:]] == ["150", "300"]
    saved = json.loads((tmp_path / "zoo" / "InvertedPendulum-v5" / "meta.json").read_text())
    assert saved == meta
    assert set(meta["eval"]) >= {"return_mean", "return_std", "random_return_mean"}
    assert meta["versions"]["stable-baselines3"] != "not installed"
    assert len(meta["git"]["commit"]) == 40

    env = gym.make("InvertedPendulum-v5")
    expert = ZooExpert(env=env, zoo_dir=tmp_path / "zoo")
    sac = SAC.load(tmp_path / "work" / MODEL_FILE, device="cpu")
    obs = np.stack([env.observation_space.sample() for _ in range(16)]).astype(np.float32)
    expected, _ = sac.predict(obs, deterministic=True)
    assert np.allclose(expert(obs), expected, atol=1e-5)
    assert np.array_equal(expert(obs), expert(obs))  # deterministic


def test_ship_best_exports_the_checkpoint_with_the_best_progress_evaluation(tmp_path):
    meta = train_expert(expert_train_cfg(tmp_path, "steps=450", "ship=best"))
    rows = (tmp_path / "work" / PROGRESS_FILE).read_text().splitlines()[1:]
    returns = {int(r.split(",")[0]): float(r.split(",")[1]) for r in rows}
    best_step = max(returns, key=returns.get)  # the first of equals: a later tie is not better
    assert meta["steps"] == best_step and meta["shipped"] == "best"
    assert json.loads((tmp_path / "work" / BEST_FILE).read_text())["steps"] == best_step
    shipped = (tmp_path / "zoo" / "InvertedPendulum-v5" / "actor.pt").read_bytes()
    kept = (tmp_path / "work" / BEST_ZOO / "InvertedPendulum-v5" / "actor.pt").read_bytes()
    assert shipped == kept


def test_an_unknown_ship_choice_is_named(tmp_path):
    with pytest.raises(BCXError, match="ship must be one of last, best"):
        train_expert(expert_train_cfg(tmp_path, "steps=150", "ship=median"))


def test_zoo_request_for_an_env_without_an_expert_lists_the_available(tmp_path):
    with pytest.raises(BCXError, match="no expert for env Reacher-v5.*available"):
        ZooExpert(env=gym.make("Reacher-v5"), zoo_dir=tmp_path)


def test_a_corrupt_actor_file_is_named(tmp_path):
    folder = tmp_path / "InvertedPendulum-v5"
    folder.mkdir()
    (folder / "actor.pt").write_bytes(b"not a torch file")
    (folder / "meta.json").write_text(json.dumps({"obs_shape": [4], "act_shape": [1]}))
    with pytest.raises(BCXError, match="actor.pt is not a readable bcx actor file"):
        ZooExpert(env=gym.make("InvertedPendulum-v5"), zoo_dir=tmp_path)


@pytest.mark.parametrize("env_id", zoo.available())
def test_shipped_expert_meets_its_bar_and_beats_random(env_id):
    meta = json.loads((zoo.ZOO_DIR / env_id / "meta.json").read_text())
    assert meta["eval"]["episodes"] >= 20
    assert meta["eval"]["return_mean"] >= REQUIRED_RETURN.get(env_id, -np.inf)
    envs = [gym.make(env_id, max_episode_steps=200) for _ in range(2)]
    expert = ZooExpert(env=envs[0])
    seeds = [7, 8]
    expert_return = np.mean([t.episode_return for t in rollout(expert, envs, seeds)])
    random = rollout(random_policy(envs[0].action_space, 0), envs, seeds)
    random_return = np.mean([t.episode_return for t in random])
    assert expert_return > random_return + 0.5 * abs(random_return) + 100
