"""``bcx-export env=<name> episodes=N``: expert demonstrations as a Minari dataset.

The expert of the env's config drives on reset seeds seed + i; the episodes are written in the
Farama Minari on-disk format (bcx/data/minari.py), which ``minari.load_dataset`` and bcx's
``data.source=minari`` both read.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from bcx.builders import build_expert, make_envs
from bcx.conf_dir import CONF_DIR
from bcx.data.demos import Demonstrations
from bcx.data.minari import write_minari
from bcx.errors import BCXError, exit_with
from bcx.quiet import quiet
from bcx.rollout import rollout

log = logging.getLogger("bcx")


def export(cfg: DictConfig) -> Path:
    """Collect cfg.episodes expert episodes and write them; returns the dataset folder."""
    if isinstance(cfg.episodes, bool) or not isinstance(cfg.episodes, int) or cfg.episodes < 1:
        raise BCXError(f"episodes must be a positive integer (got {cfg.episodes!r}).")
    envs = make_envs(cfg.env, min(cfg.num_envs, cfg.episodes))
    expert = build_expert(cfg, envs[0])
    dataset_id = cfg.dataset_id or f"bcx/{env_name(cfg.env.id)}-expert-v0"
    path = Path(cfg.path or Path("outputs/minari") / dataset_id)
    seeds = [cfg.seed + i for i in range(cfg.episodes)]
    trajectories = rollout(expert, envs, seeds)
    written = write_minari(
        Demonstrations.from_trajectories(trajectories),
        path,
        env=envs[0],
        dataset_id=dataset_id,
        rewards=np.concatenate([t.rewards for t in trajectories]),
        final_obs=np.stack([t.final_obs for t in trajectories]),
        terminated=np.array([t.terminated for t in trajectories]),
        seeds=seeds,
        algorithm_name=f"bcx expert {cfg.expert._target_.split('.')[-2]}",
    )
    log.info("wrote %d episodes of %s to %s", cfg.episodes, cfg.env.id, written)
    return written


def env_name(env_id: str) -> str:
    """'bcx/Lane-v0' -> 'lane', 'HalfCheetah-v5' -> 'halfcheetah'."""
    return re.sub(r"-v\d+$", "", env_id.split("/")[-1]).lower()


@hydra.main(config_path=CONF_DIR, config_name="export_minari", version_base="1.3")
def main(cfg: DictConfig) -> None:
    quiet()
    try:
        export(cfg)
    except BCXError as error:
        exit_with("bcx-export", error)


if __name__ == "__main__":
    main()
