"""The optimizer and learning-rate schedule are config groups (optim=, lr_schedule=): each option
builds what it says, a schedule moves the learning rate as documented, and bad settings stop
before any work with a sentence naming the key."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from bcx import api
from bcx.builders import build_head, make_envs, new_module
from bcx.config import validate
from bcx.errors import BCXError
from bcx.model.lr_schedules import cosine
from bcx.tools.bench import synthetic_demos

TINY = [
    "env=inverted_pendulum",
    "data.episodes=3",
    "trainer.max_steps=40",
    "trainer.val_check_interval=20",
    "rollout.episodes=2",
    "rollout.every_n_steps=100000",
    "trainer.enable_progress_bar=false",
    "logger=none",
]


def rates(schedule_steps: int, **settings) -> list[float]:
    """The learning rate at each of ``schedule_steps`` steps of cosine() on Adam at lr 1."""
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = cosine(optimizer, **settings)
    seen = []
    for _ in range(schedule_steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_cosine_warms_up_decays_to_its_final_fraction_and_restarts_each_fit():
    lr = rates(200, total_steps=100, warmup_steps=10, final_fraction=0.1)
    assert lr[0] == pytest.approx(0.1)  # step 1 of 10 of the warm-up
    assert lr[9] == pytest.approx(1.0)  # warm-up done
    assert all(a >= b for a, b in zip(lr[9:99], lr[10:100], strict=True))  # then only down
    assert lr[99] == pytest.approx(0.1)  # the last step of a fit: final_fraction
    assert lr[54] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 44 / 89)))
    assert lr[100:] == lr[:100]  # a continued fit (a DAgger round) runs the same cycle again


@pytest.mark.parametrize(
    ("overrides", "kind", "weight_decay"),
    [([], torch.optim.Adam, 0.0), (["optim=adamw"], torch.optim.AdamW, 0.01)],
)
def test_each_optimizer_option_builds_its_optimizer(make_cfg, overrides, kind, weight_decay):
    cfg = make_cfg(*TINY, *overrides, "optim.lr=3e-4")
    env = make_envs(cfg.env, 1)[0]
    demos = synthetic_demos(64, *env.observation_space.shape, *env.action_space.shape)
    configured = new_module(cfg, env, demos, build_head(cfg, env)).configure_optimizers()
    assert type(configured) is kind  # constant schedule: the bare optimizer, no scheduler
    assert configured.param_groups[0]["lr"] == 3e-4
    assert configured.param_groups[0]["weight_decay"] == weight_decay


def test_a_run_with_adamw_and_a_cosine_schedule_trains_and_measures(make_cfg):
    cfg = make_cfg(*TINY, "optim=adamw", "lr_schedule=cosine", "lr_schedule.final_fraction=0.2")
    env = make_envs(cfg.env, 1)[0]
    demos = synthetic_demos(64, *env.observation_space.shape, *env.action_space.shape)
    configured = new_module(cfg, env, demos, build_head(cfg, env)).configure_optimizers()
    assert configured["lr_scheduler"]["interval"] == "step"  # stepped every training step
    result = api.run(cfg)
    assert np.isfinite(result.metrics["val/nll"])
    assert np.isfinite(result.metrics["shift/on_policy_nll"])


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["lr_schedule=cosine", "lr_schedule.warmup_steps=40"], "lr_schedule.warmup_steps must"),
        (["lr_schedule=cosine", "lr_schedule.final_fraction=1.5"], "lr_schedule.final_fraction"),
        (["optim.lr=-1"], "optim.lr must be a finite number > 0"),
        (["optim.lr=nan"], "optim.lr must be a finite number > 0"),
        (["+optim.momentum=0.9"], "optim.momentum is not a parameter of torch.optim.Adam"),
    ],
)
def test_bad_settings_are_refused_before_any_work(make_cfg, tmp_path, overrides, words):
    cfg = make_cfg(*TINY, *overrides)
    with pytest.raises(BCXError, match=words.replace(".", r"\.")):
        validate(cfg)
        api.run(cfg)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_an_unknown_optimizer_lists_the_options():
    with pytest.raises(BCXError, match="adam, adamw"):
        api.compose(["optim=sgd"])


def test_the_mlp_encoder_keeps_the_state_network_and_its_checkpoint_keys(make_cfg):
    cfg = make_cfg(*TINY, "model.hidden=[32,16]")
    env = make_envs(cfg.env, 1)[0]
    demos = synthetic_demos(64, *env.observation_space.shape, *env.action_space.shape)
    policy = new_module(cfg, env, demos, instantiate(cfg.policy)).policy
    widths = [layer.out_features for layer in policy.trunk if isinstance(layer, torch.nn.Linear)]
    assert widths == [32, 16]
    assert policy.trunk[0].in_features == env.observation_space.shape[0]
    assert not list(policy.encoder.parameters())  # nothing renamed in the state_dict
    assert {k.split(".")[0] for k in policy.state_dict()} >= {"trunk", "head", "obs_mean"}
