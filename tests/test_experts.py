"""Each env's default expert, built through the config exactly as the app builds it, reaches
the return documented in docs/envs.md (mean over the first few evaluation seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from bcx.builders import build_expert, make_envs
from bcx.rollout import random_policy, rollout

# env -> (episodes, lowest acceptable expert mean return, figure in docs/envs.md)
DOCUMENTED = {
    "inverted_pendulum": (2, 999.0, 1000.0),
    "inverted_double_pendulum": (2, 9350.0, 9359.9),
    "reacher": (20, -7.0, -5.4),
    "lane": (4, 250.0, 256.7),
    "fork": (8, 2.65, 2.71),
}


@pytest.mark.parametrize("env_name", DOCUMENTED)
def test_default_expert_reaches_its_documented_return(make_cfg, env_name):
    episodes, lowest, _ = DOCUMENTED[env_name]
    cfg = make_cfg(f"env={env_name}")
    envs = make_envs(cfg.env, 4)
    expert = build_expert(cfg, envs[0])
    seeds = [cfg.rollout.seed + i for i in range(episodes)]
    expert_return = np.mean([t.episode_return for t in rollout(expert, envs, seeds)])
    random = rollout(random_policy(envs[0].action_space, 0), envs, seeds)
    assert expert_return >= lowest
    assert expert_return > np.mean([t.episode_return for t in random])
