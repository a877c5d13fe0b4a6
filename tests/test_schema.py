"""The config schema (bcx/schema.py, run by bcx.config.validate) and the command-line check
(bcx/command_line.py): each bad value of the QA catalogue (D5, D8, D9, D10, D13, D17, D18) stops
before any work with one sentence that names the key and what it allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import bcx.config
from bcx.command_line import check_command_line
from bcx.conf_dir import CONF_DIR
from bcx.config import collection_notice, validate
from bcx.errors import BCXError
from bcx.heads.gaussian import GaussianHead
from bcx.measure.shift import POPULATIONS, shift_metrics
from bcx.schema import hint_rule, metric_names
from tests.conftest import TINY, run_cli

# The catalogue's $B: 3 episodes of InvertedPendulum-v5 (at most 3000 pairs), 2 evaluation ones.
B = (
    "env=inverted_pendulum",
    "data.episodes=3",
    "trainer.max_steps=100",
    "rollout.episodes=2",
    "rollout.every_n_steps=100",
)

BAD = {  # catalogue row: (overrides, what the message must say)
    "K4": ("+data.episode=5", "data.episode is not a key of data; did you mean data.episodes?"),
    "K5": ("+trainer.max_step=10", "trainer.max_step is not a parameter of pytorch_lightning"),
    "K5b": ("+trainer.max_step=10", "did you mean trainer.max_steps?"),
    "K7": ("policy=gmm +policy.componets=3", "did you mean policy.components?"),
    "K3": ("+sed=1", "sed is not a key of bcx's config; did you mean seed?"),
    "T2": ("model.hidden=256", "model.hidden must be a list of positive integers"),
    "T4": ("model.hidden=[0]", "model.hidden must be a list of positive integers"),
    "T8": ("model.hidden=[64,-3]", "(got [64, -3])"),
    "T9": ("model.hidden=[abc]", "model.hidden must be a list of positive integers"),
    "T10": ("resume=maybe", "resume must be true or false (got 'maybe')"),
    "T12": ("resume=no", "resume must be true or false (got 'no')"),
    "T12b": ("resume=off", "resume must be true or false (got 'off')"),
    "T11": ("seed=abc", "seed must be an integer in [0, 2**32) (got 'abc')"),
    "R6": ("seed=4294967296", "seed must be an integer in [0, 2**32)"),
    "R7": ("seed=-1", "seed must be an integer in [0, 2**32)"),
    "R4": ("data.seed=-1", "data.seed must be an integer in [0, 2**32)"),
    "R5": ("rollout.seed=-10", "rollout.seed must be an integer in [0, 2**32)"),
    "S9": ("optim.lr=inf", "optim.lr must be a finite number > 0 (got inf)"),
    "S8": ("optim.lr=nan", "optim.lr must be a finite number > 0 (got nan)"),
    "S10": ("optim.weight_decay=-1", "optim.weight_decay must be a finite number >= 0"),
    "S14": ("trainer.val_check_interval=0", "trainer.val_check_interval must be a positive"),
    "S15": ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps must be a positive"),
    "S16": ("model.obs_std_min=-1", "model.obs_std_min must be a finite number > 0"),
    "S17": ("data.batch_size=1000000000", "data.batch_size=1000000000 needs about"),
    "H2": ("model.hidden=[1000000,1000000]", "model.hidden=[1000000, 1000000]"),
    "H3": ("rollout.num_envs=100000", "choose rollout.num_envs <= 8"),
    "V4": ("optimized_metric=foo", "optimized_metric must be null or one of train/nll"),
    "V4b": ("optimized_metric=rollout/retrun", "did you mean rollout/return?"),
    "V5": ("env.id=Nope-v0", "env.id=Nope-v0 is not a registered gymnasium environment"),
    "V7": ("rollout.deterministic=maybe", "rollout.deterministic must be true or false"),
    "M14": ("mitigation=dart mitigation.noise=inf", "mitigation.noise must be a finite number"),
    "M16": (
        "mitigation=dagger mitigation.rounds=2 mitigation.warm_start=maybe",
        "mitigation.warm_start must be true or false (got 'maybe')",
    ),
    "M21": (
        "mitigation=dagger mitigation.rounds=2 mitigation.seed=abc",
        "mitigation.seed must be an integer in [0, 2**32) (got 'abc')",
    ),
    "M22": ("mitigation=augment mitigation.seed=-1", "mitigation.seed must be an integer"),
    "P14": ("policy=gaussian policy.max_log_std=nan", "policy.max_log_std must be a finite"),
    "built": ("+policy.action_dim=3", "policy.action_dim is set by bcx"),
    "target": ("policy._target_=nowhere.Head", "policy._target_=nowhere.Head names no class"),
    "lqr": ("env.lqr.action_cost=abc", "expert.action_cost must be a finite number or null"),
    "V3": ("logger=wandb logger.mode=foo", "logger.mode must be null or one of online, offline"),
    "V3b": ("logger=wandb logger.mode=ofline", "(got 'ofline'; did you mean offline?)"),
    "V6": ("+env.kwargs.foo=1", "env.kwargs.foo is not a keyword argument of InvertedPendulum"),
    "V6b": ("+env.kwargs.reset_noise_scal=0", "did you mean env.kwargs.reset_noise_scale?"),
    "V6c": ("env=lane +env.kwargs.road_widht=3", "did you mean env.kwargs.road_width?"),
    "V8": ("trainer.devices=0", "trainer.devices must be a positive integer or auto"),
    "V8b": ("trainer.devices=[0,1]", "trainer.devices must be a positive integer or auto"),
    "V9": ("trainer.accelerator=tpu", "trainer.accelerator must be one of auto, cpu"),
    "V9b": ("trainer.accelerator=cpux", "(got 'cpux'; did you mean cpu?)"),
    "V11": ("logger=tensorboard logger.save_dir=null", "logger.save_dir must be a string"),
    "Z4": ("trainer._target_=builtins.dict", "trainer._target_ must be pytorch_lightning.Trainer"),
    "Z4b": ("policy._target_=builtins.dict", "policy._target_ must be bcx.heads.base.PolicyHead"),
    # A function is a factory only if it says it builds one: print and os.system are not called.
    "Z2": (
        "policy=gaussian_fixed policy._target_=builtins.print +policy._args_=[HI] "
        "policy._partial_=false",
        "a function annotated to return one (got 'builtins.print')",
    ),
    "Z3": (
        "policy=gaussian_fixed policy._target_=os.system +policy._args_=[true] "
        "policy._partial_=false",
        "policy._target_ must be bcx.heads.base.PolicyHead",
    ),
    "unannotated": ("policy._target_=tests.test_schema.unannotated_head", "annotated to return"),
}


def unannotated_head(*, in_features: int, action_dim: int):  # noqa: ANN201 (the point)
    return GaussianHead(in_features=in_features, action_dim=action_dim)


def annotated_head(*, in_features: int, action_dim: int) -> GaussianHead:
    return GaussianHead(in_features=in_features, action_dim=action_dim)


def test_a_factory_annotated_to_return_the_groups_kind_is_accepted(make_cfg):
    validate(
        make_cfg(
            *B,
            "policy._target_=tests.test_schema.annotated_head",
            "~policy.min_log_std",
            "~policy.max_log_std",
        )
    )


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine where torch sees no CUDA or MPS device, whatever this one has."""
    monkeypatch.setattr(bcx.config, "_cuda_count", lambda: 0)
    monkeypatch.setattr(bcx.config, "_mps", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(bcx.config, "_cuda_count", lambda: 2)
    monkeypatch.setattr(bcx.config, "_mps", lambda: False)


@pytest.mark.parametrize(("overrides", "says"), BAD.values(), ids=BAD.keys())
def test_a_bad_value_is_named_before_any_work(make_cfg, no_gpu, overrides, says):
    with pytest.raises(BCXError) as error:
        validate(make_cfg(*B, *overrides.split()))
    message = str(error.value)
    assert says in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "overrides",
    [
        "model.hidden=[]",  # a linear policy (T3)
        "trainer.val_check_interval=1000",  # beyond max_steps (S18)
        "trainer.max_steps=1",  # S19
        "data.batch_size=1",  # S20
        "data.batch_size=5000",  # more than the 3000 pairs: batches are drawn with replacement
        "env=reacher data.batch_size=1024",  # 150 pairs; hparams_search=optuna may choose 1024
        "resume=false",
        "rollout.num_envs=8",  # the default, above 3 episodes at once
        "seed=4294967295",
        "optimized_metric=shift/gap_median",
        "policy=gmm policy.weight_floor=0",  # an int where the annotation says float
        "mitigation=dagger mitigation.label_budget=100000",
        "logger=wandb +logger.notes=hello",  # WandbLogger takes **kwargs
        "+env.kwargs.reset_noise_scale=0.01",  # the env's own argument
        "+env.kwargs.width=64",  # MujocoEnv's, which InvertedPendulumEnv's **kwargs hands on to
        "+env.kwargs.max_episode_steps=50",  # gym.make's
        "env=lane +env.kwargs.road_width=3.0",
        "trainer.devices=2",  # CPU processes
        "trainer.devices='2'",  # as Lightning reads a string
        "trainer=ddp",
        "trainer.accelerator=auto trainer.devices=auto",
        "logger=wandb logger.mode=disabled",
        "logger=wandb logger.mode=null",
        "logger=tensorboard",
    ],
)
def test_valid_edge_values_pass(make_cfg, overrides):
    validate(make_cfg(*B, *overrides.split()))


GPU = {  # trainer=gpu and trainer.devices where torch sees no GPU (V2), and where it sees two
    "V2": (False, "trainer=gpu", "trainer.accelerator must be one of auto, cpu, the accel"),
    "V2b": (False, "trainer=gpu", "(got 'gpu': no GPU device is available here; choose trainer"),
    "V2c": (False, "trainer.accelerator=cuda", "(got 'cuda': no CUDA device is available"),
    "count": (True, "trainer=gpu trainer.devices=3", "at most 2, the GPUs torch sees"),
    "index": (True, "trainer=gpu trainer.devices=[0,2]", "a list of GPU indices below 2"),
    "repeat": (True, "trainer=gpu trainer.devices=[1,1]", "(got [1, 1])"),
    "cpu": (True, "trainer.devices=-1", "trainer.devices must be a positive integer or auto with"),
}


@pytest.mark.parametrize(("gpus", "overrides", "says"), GPU.values(), ids=GPU.keys())
def test_the_trainer_must_run_on_this_machine(make_cfg, monkeypatch, gpus, overrides, says):
    monkeypatch.setattr(bcx.config, "_cuda_count", lambda: 2 if gpus else 0)
    monkeypatch.setattr(bcx.config, "_mps", lambda: False)
    with pytest.raises(BCXError) as error:
        validate(make_cfg(*B, *overrides.split()))
    assert says in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "overrides",
    [
        "trainer=gpu",
        "trainer=gpu trainer.devices=2",
        "trainer=gpu trainer.devices=-1",
        "trainer=gpu trainer.devices=[1]",
        "trainer=gpu trainer.devices='0,1'",
        "trainer=ddp",
        "trainer.accelerator=cuda",
    ],
)
def test_gpu_trainers_pass_where_torch_sees_gpus(make_cfg, two_gpus, overrides):
    validate(make_cfg(*B, *overrides.split()))


def test_wandb_mode_from_the_environment_is_named(make_cfg, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offlne")
    with pytest.raises(BCXError, match=r"logger.mode must .* \(got 'offlne', from the WANDB_MODE"):
        validate(make_cfg(*B, "logger=wandb"))


def test_a_large_collection_is_announced_with_its_size(make_cfg):
    """D5 / H4: data.episodes has no cap; the run says up front what it is about to collect."""
    cfg = make_cfg(*B, "data.episodes=1000000")
    validate(cfg)
    notice = collection_notice(cfg)
    assert "demonstrations to collect: 1000000 episodes of InvertedPendulum-v5" in notice
    assert "at most 1,000,000,000 env steps (1000 per episode)" in notice


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("", "expert.path is not set"),  # E20
        ("{tmp}", "expert.path={tmp} is a directory"),  # E11
        ("{tmp}/missing.zip", "expert.path={tmp}/missing.zip: no such file"),  # E4
    ],
)
def test_sb3_expert_path_says_what_is_wrong_with_it(tmp_path, path, says):
    """D17 / E11, E20: a directory said "no such file", an empty path "expert.path=: no such
    file"."""
    import gymnasium as gym

    from bcx.experts.sb3 import SB3Expert

    with pytest.raises(BCXError) as error:
        SB3Expert(env=gym.make("InvertedPendulum-v5"), path=path.format(tmp=tmp_path), algo="sac")
    assert says.format(tmp=tmp_path) in str(error.value)


@pytest.mark.parametrize(
    ("zoo_dir", "says"),
    [("", "expert.zoo_dir is empty"), ("{tmp}/file", "expert.zoo_dir={tmp}/file is a file")],
)
def test_zoo_dir_that_cannot_be_a_zoo_is_named(tmp_path, zoo_dir, says):
    import gymnasium as gym

    from bcx.experts.zoo import ZooExpert

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BCXError) as error:
        ZooExpert(env=gym.make("Hopper-v5"), zoo_dir=zoo_dir.format(tmp=tmp_path))
    assert says.format(tmp=tmp_path) in str(error.value)


def options(group: str) -> list[str]:
    return [f"{group}={p.stem}" for p in sorted((Path(CONF_DIR) / group).glob("*.yaml"))]


SHIPPED = [
    *options("env"),
    *options("policy"),
    *options("mitigation"),
    *options("expert"),
    *options("trainer"),
    *options("logger"),
    *options("experiment"),
    *[f"+{o}" for o in options("equal_budget")],
    *options("hparams_search"),
]


@pytest.mark.parametrize("choice", SHIPPED)
def test_every_shipped_config_passes(make_cfg, two_gpus, choice):
    """On a machine with GPUs (trainer=gpu is refused where torch sees none)."""
    validate(make_cfg(choice))


def test_gaussian_log_std_bounds_are_checked_as_gmm_checks_them():
    """D17 / P5: min_log_std above max_log_std used to train silently."""
    with pytest.raises(BCXError, match=r"policy.min_log_std must be smaller than policy.max_log"):
        GaussianHead(in_features=4, action_dim=1, min_log_std=2.0, max_log_std=-2.0)


def test_metric_names_cover_every_shift_metric():
    per_state = {p: {"nll": torch.rand(5), "mse": torch.rand(5)} for p in POPULATIONS}
    assert set(shift_metrics(per_state)) <= set(metric_names())


@pytest.mark.parametrize(
    ("hint", "good", "bad", "allowed"),
    [
        (int, 3, True, "an integer"),
        (float, 2, float("inf"), "a finite number"),
        (bool, False, "no", "true or false"),
        (int | None, None, 2.5, "an integer or null"),
        (list[int], [1, 2], [1, "a"], "a list of integers"),
    ],
)
def test_annotations_become_rules(hint, good, bad, allowed):
    rule = hint_rule(hint)
    assert rule.allowed == allowed
    assert rule.test(good) and not rule.test(bad)


COMMAND_LINES = {  # Hydra's own config errors, as one sentence
    "data.episdoes=5": "data.episdoes is not a key of data; did you mean data.episodes?",
    "policy=gmm policy.componets=3": "policy.componets is not a key of policy; did you mean",
    "policy=gausian": "policy=gausian is not an option of policy; did you mean policy=gaussian?",
    "env=cartpole": "options: ant, fork",
    "data.foo=1": "allowed: data.source, data.path",
    "x=[1": "x=[1 is not a valid override",
    "sed=1": "sed is not a key of bcx's config; did you mean seed?",
    "resume=no": "resume must be true or false",  # a single run: values too
    "run_dir=/tmp/elsewhere": "run_dir=/tmp/elsewhere would split the run",  # D18 / Z9
    "run_dir=/tmp/a hydra.run.dir=/tmp/b": "set hydra.run.dir=/tmp/a instead",
    "-m seed=0,1 run_dir=/tmp/one": "would put every job of this multirun in one folder",
    "seed=0,1 run_dir=/tmp/one": "set hydra.sweep.dir=<folder> instead",
    # Z6: Hydra would call print at startup, then only warn that it is no callback.
    "+hydra.callbacks.x._target_=builtins.print": "hydra.callbacks.x._target_ must name a "
    "subclass of hydra.experimental.callback.Callback (got 'builtins.print')",
}


@pytest.mark.parametrize(("argv", "says"), COMMAND_LINES.items(), ids=COMMAND_LINES.keys())
def test_the_command_line_is_checked_before_hydra_runs(argv, says):
    with pytest.raises(BCXError) as error:
        check_command_line(argv.split(), CONF_DIR, "train")
    assert says in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "argv",
    [
        "env=lane",
        "-m seed=0,1 data.episodes=3,0",  # values are checked job by job, keys up front
        "experiment=lane_narrow",
        "hparams_search=optuna optim.lr=interval(1e-4,1e-2)",
        "--cfg job",
        "run_dir=/tmp/bcx-same hydra.run.dir=/tmp/bcx-same",  # the same folder: nothing split
    ],
)
def test_good_command_lines_pass_the_check(argv):
    check_command_line(argv.split(), CONF_DIR, "train")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ("resume=no", "resume"),
        ("+data.episode=5", "data.episodes"),
        ("mitigation=dart mitigation.noise=inf", "mitigation.noise"),
    ],
)
def test_the_cli_stops_with_one_line_and_keeps_an_earlier_run(tmp_path, overrides, key):
    earlier = {
        "metrics.json": b'{"metrics": {}}',
        "logs/metrics.csv": b"step,train/nll\n",
        "checkpoints/last.ckpt": b"weights",
    }
    for name, content in earlier.items():
        (tmp_path / "run" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "run" / name).write_bytes(content)
    result = run_cli(*B, *overrides.split(), "hydra.run.dir=run", *TINY, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("bcx: error:")]
    assert len(errors) == 1, result.stderr
    assert key in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs" / "cache").exists()  # stopped before collecting anything
    for name, content in earlier.items():
        assert (tmp_path / "run" / name).read_bytes() == content


# Wrong types per kind of key: what each rule must refuse.
WRONG = {"an integer": ("abc", 1.5, True), "a number": ("abc", True), "true or false": ("no", 1)}


def _kind(rule) -> str | None:
    """Which WRONG list a key's rule must refuse: integer, number or boolean keys; None else."""
    if rule.test(True) is False and rule.test(False) is False and rule.test(3):
        return "an integer" if not rule.test(3.5) and not rule.test(0.5) else "a number"
    if rule.test(True) and rule.test(False):
        return "true or false"
    if not rule.test(True) and rule.test(0.5):
        return "a number"
    return None


def _typed_keys() -> list[tuple[str, str]]:
    """Every integer, number and boolean key of bcx's own sections, and every such parameter of
    every shipped policy, mitigation and expert option (from the class's annotations)."""
    import typing

    from hydra import compose, initialize_config_dir
    from hydra.utils import get_class

    from bcx.schema import KEYS

    keys = [(k, _kind(r)) for k, r in KEYS.items() if _kind(r)]
    for group in ("policy", "mitigation", "expert"):
        for choice in options(group):
            with initialize_config_dir(CONF_DIR, version_base="1.3"):
                node = compose("train", overrides=[choice])[group]
            target = get_class(node._target_)
            hints = typing.get_type_hints(target.__init__)
            for name in node:
                rule = hint_rule(hints.get(name)) if not name.startswith("_") else None
                if rule is not None and _kind(rule):
                    keys.append((f"{choice} {group}.{name}", _kind(rule)))
    return keys


TYPED = _typed_keys()


@pytest.mark.parametrize(("key", "kind"), TYPED, ids=[k for k, _ in TYPED])
def test_every_typed_key_refuses_a_wrong_type(make_cfg, key, kind):
    """The issue's 'done when': a wrong type for every boolean, integer and float key is refused
    before any work, naming the key."""
    *choice, dotted = key.split()
    named = re.escape(dotted)
    for wrong in WRONG[kind]:
        with pytest.raises(BCXError, match=rf"^{named} must be"):
            validate(make_cfg(*B, *choice, f"++{dotted}={wrong}"))
