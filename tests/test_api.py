"""The Python API: docs/api.md runs as written, a loaded policy acts and measures as its run did,
and bad paths and overrides raise BCXError naming them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra

import bcx
from bcx import api
from tests.conftest import REPO

DOCS = REPO / "docs" / "api.md"

# Appended to every override list the docs compose: tiny, quiet runs measured once, at the end.
SMALL = [
    "trainer.max_steps=50",
    "trainer.val_check_interval=25",
    "rollout.episodes=2",
    "rollout.every_n_steps=100000",
    "trainer.enable_progress_bar=false",
    "logger=none",
]

EVALUATE_METRICS = {
    "rollout/return",
    "rollout/return_std",
    "rollout/length",
    "rollout/normalized_return",
    "expert/return",
    "random/return",
    "rollout/success",  # lane reports it
    "shift/on_policy_nll",
    "shift/on_policy_nll_median",
    "shift/on_policy_mse",
}


def code_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.DOTALL)


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> dict:
    """The names every python block of docs/api.md defines, run in order as written, in a fresh
    folder, with SMALL appended to each compose."""
    folder = tmp_path_factory.mktemp("docs")
    compose = api.compose
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr(
            bcx, "compose", lambda overrides=(), **kw: compose([*overrides, *SMALL], **kw)
        )
        names: dict = {"folder": folder}
        for block in code_blocks(DOCS):
            exec(compile(block, str(DOCS), "exec"), names)
    return names


@pytest.fixture(scope="module")
def fork(tmp_path_factory) -> bcx.Result:
    """A tiny run on the fork, whose observations end with a privileged feature (its coin)."""
    folder = tmp_path_factory.mktemp("fork")
    cfg = bcx.compose(
        ["env=fork", "data.episodes=3", f"run_dir={folder / 'run'}", *SMALL]
        + [f"data.cache_dir={folder / 'demos'}", f"resume_dir={folder / 'rounds'}"]
    )
    return bcx.run(cfg)


def test_import_bcx_loads_no_heavy_library():
    code = "import sys, bcx; bcx.BCXError; print(sorted({'torch', 'hydra'} & set(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert shown.stdout.strip() == "[]", shown.stderr


def test_the_docs_example_runs_as_written(docs):
    result = docs["result"]
    assert isinstance(result, bcx.Result)
    assert result.run_dir.is_relative_to(docs["folder"] / "outputs" / "runs")
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert result.metrics == saved["metrics"] and result.config == saved["config"]
    assert result.config["policy"]["_target_"] == "bcx.heads.gmm.GmmHead"
    assert set(result.curves["compounding_error"]) >= {"timestep", "state_distance"}
    assert docs["policy"].env_id == "bcx/Lane-v0"
    assert docs["action"].shape == (1,) and docs["action"].dtype == np.float32
    assert set(docs["metrics"]) == EVALUATE_METRICS
    assert set(docs["returns"]) == {3, 6}
    assert not GlobalHydra.instance().is_initialized()  # compose left Hydra as it found it


def test_evaluate_on_the_runs_own_seeds_reproduces_its_metrics(docs):
    same, run = docs["same"], docs["result"].metrics
    assert set(same) == EVALUATE_METRICS
    assert same["rollout/return"] == run["rollout/return"]  # same seeds, deterministic
    assert same == {name: pytest.approx(run[name], rel=1e-6) for name in same}
    assert not docs["policy"].policy.training  # evaluate left the caller's policy in eval mode


def test_act_takes_one_observation_or_a_batch(docs):
    policy, batch = docs["policy"], docs["batch"]
    rows = np.stack([policy.act(obs) for obs in batch])
    assert policy.act(batch).shape == (2, policy.action_dim)
    np.testing.assert_allclose(policy.act(batch), rows, atol=1e-6)
    with pytest.raises(bcx.BCXError, match=r"obs_dim >= \d+.*got \(2, 3\)"):
        policy.act(batch[:, :3])


def test_a_checkpoint_path_loads_and_privileged_features_are_not_read(fork):
    checkpoint = fork.run_dir / "checkpoints" / "last.ckpt"
    policy = bcx.load_policy(checkpoint)
    assert policy.checkpoint == checkpoint and policy.env_id == "bcx/Fork-v0"
    obs, _ = policy.make_env().reset(seed=5)
    assert policy.obs_dim == len(obs) - 1  # the coin is the expert's alone
    coin_flipped = obs.copy()
    coin_flipped[-1] = -coin_flipped[-1]
    np.testing.assert_array_equal(policy.act(obs), policy.act(coin_flipped))
    np.testing.assert_array_equal(policy.act(obs), policy.act(obs[:-1]))


def test_bad_paths_raise_naming_them(docs, tmp_path):
    run_dir = docs["result"].run_dir
    for path, says in [
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path, "no metrics.json"),
    ]:
        with pytest.raises(bcx.BCXError, match=says) as raised:
            bcx.load_policy(path)
        assert str(path) in str(raised.value)

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(run_dir / "metrics.json", copy)
    with pytest.raises(bcx.BCXError, match="has no checkpoint"):
        bcx.load_policy(copy)

    (copy / "checkpoints").mkdir()
    (copy / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(bcx.BCXError, match="cannot read checkpoint .*last.ckpt"):
        bcx.load_policy(copy)

    loose = tmp_path / "loose.ckpt"
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", loose)
    with pytest.raises(bcx.BCXError, match="not inside a finished run folder"):
        bcx.load_policy(loose)

    shutil.copy(loose, copy / "checkpoints" / "last.ckpt")
    saved = json.loads((copy / "metrics.json").read_text())
    saved["run"]["steps"] += 1  # the run went on after its last checkpoint
    (copy / "metrics.json").write_text(json.dumps(saved))
    with pytest.raises(bcx.BCXError, match="does not hold the final policy"):
        bcx.load_policy(copy)
    assert bcx.load_policy(copy / "checkpoints" / "last.ckpt").obs_dim > 0  # on request, it does


def test_bad_overrides_raise_with_the_commands_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(bcx.BCXError, match=r"env=nope is not an option of env; .*options: .*lane"):
        bcx.compose(["env=nope"])
    with pytest.raises(bcx.BCXError, match="data.episdoes is not a key of data"):
        bcx.compose(["data.episdoes=3"])
    with pytest.raises(bcx.BCXError, match="a list of overrides"):
        bcx.compose("env=lane")
    with pytest.raises(bcx.BCXError, match="run takes the config bcx.compose returns"):
        bcx.run(["env=lane"])
    first, second = bcx.compose(), bcx.compose([f"run_dir={tmp_path / 'mine'}"])
    assert second.run_dir == str(tmp_path / "mine")
    assert first.run_dir != bcx.compose().run_dir  # a fresh folder each time
    assert "hydra" not in first
    assert not GlobalHydra.instance().is_initialized()


def test_evaluate_refuses_an_env_of_other_shapes(docs):
    with pytest.raises(bcx.BCXError, match="reads .* observation features"):
        bcx.evaluate(docs["policy"], env="fork", episodes=1)
