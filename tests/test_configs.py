"""The config groups are the registry: every option of every group composes and builds."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bcx.builders import make_envs
from bcx.conf_dir import CONF_DIR
from bcx.errors import BCXError
from bcx.experts import zoo
from bcx.experts.base import Expert, check_matches_env
from bcx.heads import PolicyHead
from bcx.mitigations.base import Mitigation

CONF = Path(CONF_DIR)


def options(group: str) -> list[str]:
    """The options of a config group: every yaml in its folder, found, never listed by hand, so
    a new head, env or expert is one yaml (and its module) with no test to edit."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
# train.yaml's choices, group -> option (or None): an override replaces one (group=option); a
# group it does not choose from is added to a run (+group=option).
DEFAULTS = dict(
    next(iter(entry.items()))
    for entry in OmegaConf.load(CONF / "train.yaml").defaults
    if entry != "_self_"
)


def test_every_group_has_options_and_the_defaults_name_real_ones():
    assert {"env", "policy", "expert", "mitigation", "trainer", "logger"} <= set(GROUPS)
    assert all(options(group) for group in GROUPS), "an empty config group"
    for group, choice in DEFAULTS.items():
        assert choice is None or choice in options(group), f"train.yaml: {group}: {choice}"


@pytest.mark.parametrize(
    "choice",
    [
        f"{'' if group in DEFAULTS else '+'}{group}={option}"
        for group in GROUPS
        for option in options(group)
    ],
)
def test_every_option_of_every_group_composes(make_cfg, choice):
    """Every yaml of every group folder, with train.yaml: the group's node is a mapping."""
    cfg = make_cfg(choice)
    group = choice.lstrip("+").split("=")[0]
    if group in cfg:
        assert OmegaConf.is_dict(cfg[group])


@pytest.mark.parametrize("env_name", options("env"))
def test_every_env_builds_with_its_default_expert(make_cfg, env_name):
    cfg = make_cfg(f"env={env_name}")
    env = make_envs(cfg.env, 1)[0]
    if cfg.expert._target_ == "bcx.experts.zoo.ZooExpert" and cfg.env.id not in zoo.available():
        # Not trained yet: the request must fail clearly, listing the zoo's experts.
        with pytest.raises(BCXError, match=f"no expert for env {cfg.env.id}.*available"):
            instantiate(cfg.expert)(env=env)
        return
    expert = instantiate(cfg.expert)(env=env)
    assert isinstance(expert, Expert)
    # The spaces it was built for, not the env's own objects: else the check compares the env
    # with itself and cannot fail.
    assert expert.observation_space is not env.observation_space
    assert expert.action_space is not env.action_space
    check_matches_env(expert, env, cfg.expert._target_)
    obs, _ = env.reset(seed=0)
    action = expert(obs[None])
    assert action.shape == (1, *env.action_space.shape)
    assert env.action_space.contains(action[0].astype(env.action_space.dtype))


@pytest.mark.parametrize("expert_name", options("expert"))
def test_every_expert_is_some_envs_default(make_cfg, expert_name):
    cfg = make_cfg(f"expert={expert_name}")
    if expert_name == "sb3":  # the user's own model file: no env's default, needs expert.path
        env = make_envs(make_cfg("env=reacher").env, 1)[0]
        with pytest.raises(BCXError, match="expert.path"):
            instantiate(cfg.expert)(env=env)
        return
    defaults = {make_cfg(f"env={e}").expert._target_ for e in options("env")}
    assert cfg.expert._target_ in defaults


@pytest.mark.parametrize("policy_name", options("policy"))
def test_every_policy_head_builds(make_cfg, policy_name):
    cfg = make_cfg(f"policy={policy_name}")
    head = instantiate(cfg.policy)(in_features=8, action_dim=3)
    assert isinstance(head, PolicyHead)
    # The module stem is the choice name: the registry convention the app relies on.
    assert cfg.policy._target_.split(".")[-2] == policy_name


@pytest.mark.parametrize("mitigation_name", options("mitigation"))
def test_every_mitigation_builds(make_cfg, mitigation_name):
    cfg = make_cfg("env=lane", f"mitigation={mitigation_name}")
    mitigation = instantiate(cfg.mitigation)(env=make_envs(cfg.env, 1)[0])
    assert isinstance(mitigation, Mitigation)
    assert mitigation.rounds >= 1
    assert cfg.mitigation._target_.split(".")[-2] == mitigation_name


@pytest.mark.parametrize("trainer_name", options("trainer"))
def test_every_trainer_composes(make_cfg, trainer_name):
    cfg = make_cfg(f"trainer={trainer_name}")
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    assert cfg.trainer.max_steps > 0
    if trainer_name == "cpu":  # gpu/ddp need devices this machine lacks; cpu builds for real
        assert isinstance(instantiate(cfg.trainer, logger=False), pl.Trainer)


@pytest.mark.parametrize("logger_name", options("logger"))
def test_every_logger_builds(make_cfg, logger_name, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_cfg(f"logger={logger_name}")
    if logger_name == "none":
        assert not cfg.logger
    else:
        assert isinstance(instantiate(cfg.logger), pl.loggers.Logger)


def test_lane_env_is_registered_with_gymnasium():
    import bcx.envs  # noqa: F401

    assert "bcx/Lane-v0" in gym.registry


def test_an_env_sets_its_own_budget_and_the_command_line_still_wins(make_cfg):
    """env.budget.* are the defaults of data.episodes / trainer.max_steps; elsewhere 12 / 2000."""
    fork, pendulum, lane = make_cfg("env=fork"), make_cfg(), make_cfg("env=lane")
    assert (fork.data.episodes, fork.trainer.max_steps) == (12, 6000)
    assert (pendulum.data.episodes, pendulum.trainer.max_steps) == (6, 2000)
    assert (lane.data.episodes, lane.trainer.max_steps) == (12, 2000)
    chosen = make_cfg("env=fork", "trainer.max_steps=300", "data.episodes=4")
    assert (chosen.data.episodes, chosen.trainer.max_steps) == (4, 300)
