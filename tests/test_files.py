"""What bcx keeps on disk survives bad luck: files readable by the group, damaged caches and
checkpoints treated as absent, a full disk named, a finished run never overwritten, and a NaN
stop that says what happened and why."""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import stat
import subprocess
import sys
from functools import partial

import gymnasium as gym
import h5py
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from bcx.data import store
from bcx.data.demos import Demonstrations
from bcx.data.minari import read_minari, write_minari
from bcx.errors import NO_ROOM_EXIT, BCXError, no_room
from bcx.heads.gaussian import GaussianHead
from bcx.io import atomic_write, atomic_write_json, readable_checkpoint, umask
from bcx.model.module import BCModule, NonFiniteLossError
from bcx.model.policy import Policy
from bcx.pipeline import run
from bcx.results import provenance
from bcx.results.loggers import build_logger
from tests.conftest import TINY

LANE = ("env=lane", "data.episodes=2", "trainer.max_steps=20", "rollout.episodes=1", *TINY)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def mask():
    """Run with umask 027 (a group-readable setting), restored afterwards."""
    before = os.umask(0o027)
    yield 0o027
    os.umask(before)


def demos(episodes: int = 2, steps: int = 5) -> Demonstrations:
    rng = np.random.default_rng(0)
    return Demonstrations(
        obs=rng.standard_normal((episodes * steps, 3)).astype(np.float32),
        actions=rng.uniform(-1, 1, (episodes * steps, 1)).astype(np.float32),
        episode_lengths=np.full(episodes, steps, dtype=np.int64),
        returns=np.zeros(episodes),
    )


# D16: atomic writes and Minari folders get the mode a plain open() gives, not mkstemp's 0600.


def test_atomic_writes_take_the_umask_not_0600(tmp_path, mask):
    assert umask() == mask
    atomic_write_json(tmp_path / "metrics.json", {"a": 1})
    store.save(demos(), tmp_path / "cache" / "demos.npz")
    assert mode(tmp_path / "metrics.json") == 0o640
    assert mode(tmp_path / "cache" / "demos.npz") == 0o640


def test_a_full_disk_names_the_file_and_keeps_the_earlier_one(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"earlier": True})

    def disk_full(f):
        f.write(b"{")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError, match="No space left on device") as raised:
        atomic_write(path, disk_full)
    assert raised.value.filename == str(path)
    assert json.loads(path.read_text()) == {"earlier": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


# F6, F7, F7b: a file-size limit (as the catalogue stood in for a full disk) hit mid-fit.


def test_a_run_out_of_room_stops_with_one_line_and_no_partial_file(tmp_path):
    """The first mid-fit save (fit.ckpt, 400 KB over the limit) fails: one line naming the file
    and what rerunning does, exit 74 (EX_IOERR), no traceback, no temp file left."""
    limit = 400 * 1024
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bcx",
            *TINY,
            "checkpoint.every_n_steps=10",
            f"hydra.run.dir={tmp_path / 'run'}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"resume_dir={tmp_path / 'rounds'}",
        ],
        cwd=tmp_path,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == NO_ROOM_EXIT, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"bcx: could not write {tmp_path / 'rounds'}")
    assert "fit.ckpt: File too large" in line and "rerun the same command" in line
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_no_room_is_found_through_the_errors_raised_from_it():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/a/last.ckpt")
    try:
        try:
            raise full
        except OSError as err:
            raise RuntimeError("Lightning's teardown") from err
    except RuntimeError as wrapped:
        assert no_room(wrapped, "/runs/a").startswith("could not write /runs/a/last.ckpt: No space")
    assert no_room(OSError(errno.EFBIG, "File too large"), "/runs/a").startswith(
        "could not write a file in /runs/a: File too large"
    )
    assert no_room(OSError(errno.EACCES, "Permission denied"), "/runs/a") is None


def test_minari_folder_mode_and_non_finite_observations_named(tmp_path, mask):
    data = Demonstrations(
        obs=np.zeros((8, 4), np.float32),
        actions=np.zeros((8, 1), np.float32),
        episode_lengths=np.array([4, 4]),
        returns=np.zeros(2),
    )
    path = write_minari(
        data,
        tmp_path / "pendulum",
        env=gym.make("InvertedPendulum-v5"),
        dataset_id="bcx/pendulum/test-v0",
        rewards=np.zeros(8),
        final_obs=np.zeros((2, 4)),
        terminated=np.array([True, False]),
    )
    assert mode(path) == 0o750
    file = path / "data" / "main_data.hdf5"
    with h5py.File(file, "r+") as h5:
        h5["episode_1/observations"][2, 0] = np.nan
    with pytest.raises(BCXError) as raised:
        read_minari(path)
    message = str(raised.value)
    assert f"{file}:episode_1/observations" in message
    assert "1 of its 4 rows" in message and "step 2" in message


# D6: a damaged demo cache or checkpoint is absent, with a warning naming it; never a traceback.


@pytest.mark.parametrize("damage", ["empty", "truncated", "mismatched"])
def test_a_damaged_demo_cache_is_absent_with_a_warning(tmp_path, caplog, damage):
    path = tmp_path / "demos.npz"
    store.save(demos(), path)
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    else:
        np.savez(path, **{**demos().as_arrays(), "obs": demos().obs[:3]})
    with caplog.at_level(logging.WARNING, logger="bcx"):
        assert store.load(path) is None
    assert str(path) in caplog.text and "treating it as absent" in caplog.text


def test_a_missing_cache_is_absent_without_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bcx"):
        assert store.load(tmp_path / "none.npz") is None
    assert not caplog.text


def test_a_cache_that_cannot_be_written_costs_only_the_reuse(tmp_path, caplog):
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "demos.npz"  # a folder below a regular file
    with caplog.at_level(logging.WARNING, logger="bcx"):
        made, reused = store.load_or_create(path, demos)
    assert len(made) == len(demos()) and not reused
    assert str(path) in caplog.text and "collects them again" in caplog.text


def test_a_zeroed_demo_cache_is_collected_again(make_cfg, tmp_path, caplog):
    cache = tmp_path / "cache"
    run(make_cfg(*LANE, f"data.cache_dir={cache}", f"run_dir={tmp_path / 'first'}"))
    (path,) = cache.glob("*.npz")
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="bcx"):
        run(make_cfg(*LANE, f"data.cache_dir={cache}", f"run_dir={tmp_path / 'second'}"))
    assert f"{path} is damaged" in caplog.text
    assert store.load(path) is not None  # rewritten whole
    assert (tmp_path / "second" / "metrics.json").exists()


def test_readable_checkpoint_tells_a_damaged_one_with_a_warning(tmp_path, caplog):
    good = tmp_path / "fit.ckpt"
    torch.save({"state_dict": {"w": torch.ones(64, 64)}, "global_step": 3}, good)
    truncated, empty, other = tmp_path / "t.ckpt", tmp_path / "e.ckpt", tmp_path / "o.ckpt"
    truncated.write_bytes(good.read_bytes()[:5000])
    empty.write_bytes(b"")
    torch.save([1, 2], other)
    with caplog.at_level(logging.WARNING, logger="bcx"):
        assert readable_checkpoint(good)
        assert not readable_checkpoint(tmp_path / "missing.ckpt")
        assert not caplog.text  # a missing checkpoint is simply absent
        for damaged in (truncated, empty, other):
            assert not readable_checkpoint(damaged)
            assert f"{damaged} is not a readable checkpoint" in caplog.text


# D11: a finished run's folder is never reused.


def test_a_run_into_a_finished_runs_folder_stops_and_keeps_its_files(make_cfg, tmp_path):
    folder = tmp_path / "done"
    (folder / "logs").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"metrics": {}}\n')
    (folder / "logs" / "metrics.csv").write_text("step,train/nll\n24,0.5\n")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(BCXError, match="already holds a finished run") as raised:
        run(make_cfg(*LANE, f"run_dir={folder}", "optim.lr=1e30"))
    assert str(folder) in str(raised.value) and "hydra.run.dir=" in str(raised.value)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_folder_without_metrics_json_is_not_refused(make_cfg, tmp_path):
    folder = tmp_path / "killed"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "metrics.csv").write_text("step,train/nll\n24,0.5\n")
    assert build_logger(make_cfg(f"run_dir={folder}"))


# D12: the NaN stop names the value, the step, a checkpoint only if there is one, and the cause.


def fit_until_nan(tmp_path, *, lr=1e-3, max_log_std=2.0, obs=None, checkpoint_every=None) -> str:
    """Fit a tiny Gaussian policy until it stops on a non-finite value; the message."""
    obs = torch.randn(64, 3) if obs is None else obs
    actions = torch.rand(64, 1) * 2 - 1
    policy = Policy(
        obs_mean=obs.mean(0).numpy(),
        obs_std=obs.std(0).numpy(),
        action_low=np.array([-1.0]),
        action_high=np.array([1.0]),
        hidden=[8],
        activation="relu",
        head=GaussianHead,
    )
    policy.head.max_log_std = max_log_std  # set after building: a head may check its arguments
    callbacks = []
    if checkpoint_every:
        callbacks.append(
            ModelCheckpoint(
                dirpath=tmp_path / "checkpoints",
                save_last=True,
                save_top_k=0,
                every_n_train_steps=checkpoint_every,
            )
        )
    trainer = pl.Trainer(
        max_steps=20,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=bool(callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    loader = DataLoader(TensorDataset(obs, actions), batch_size=16, shuffle=False)
    with pytest.raises(NonFiniteLossError) as raised:
        trainer.fit(
            BCModule(policy, optimizer=partial(torch.optim.Adam, lr=lr)), train_dataloaders=loader
        )
    return str(raised.value)


def test_nan_from_a_setting_names_it_and_no_checkpoint(tmp_path):
    message = fit_until_nan(tmp_path, max_log_std=float("nan"))
    assert message.startswith("train/nll became nan at training step 0")
    assert "No checkpoint was saved" in message and "last.ckpt" not in message
    assert "Cause: policy.max_log_std=nan is not finite." in message
    assert "optim.lr" not in message  # not blamed when the cause is known


def test_nan_from_the_data_says_so(tmp_path):
    obs = torch.randn(64, 3)
    obs[5, 1] = float("inf")
    message = fit_until_nan(tmp_path, obs=obs)
    assert "Cause: the training data hold NaN or inf values." in message


def test_divergence_names_the_saved_checkpoint_and_the_likely_causes(tmp_path):
    message = fit_until_nan(tmp_path, lr=1e30, checkpoint_every=1)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert f"The last weights saved before it, all finite, are in {last}." in message
    state = torch.load(last, weights_only=False)["state_dict"]
    assert all(torch.isfinite(t).all() for t in state.values())
    assert "optim.lr=1e+30" in message and "policy.max_log_std" in message
    assert "Rerunning the same command stops the same way" in message


# Provenance never fails a finished run.


def test_git_failing_or_hanging_leaves_the_commit_unknown(monkeypatch):
    def hangs(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], 10)

    monkeypatch.setattr(provenance.subprocess, "run", hangs)
    assert provenance.git_state() == {"commit": None, "dirty": None}
