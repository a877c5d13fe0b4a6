"""Runs side by side and the folders they share: two processes collect the same demonstrations
once, never share a run folder or a resume store, and every folder is checked writable before any
work; relative folders mean the launch folder even when Hydra runs the job in its run folder."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bcx.data import store
from bcx.errors import BCXError
from bcx.pipeline import launch_paths, run, run_key
from bcx.results.loggers import RUN_LOCK, check_run_dir
from bcx.rounds import RoundStore
from tests.conftest import REPO, TINY

LANE = ("env=lane", "data.episodes=2", "trainer.max_steps=20", "rollout.episodes=1", *TINY)
ENV = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def _bcx(*args: str, cwd: Path) -> subprocess.Popen:
    """``python -m bcx args`` started in the background, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "bcx", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    """(exit code, stdout + stderr) once it ends."""
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def _metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


@contextmanager
def _held_elsewhere(lock: Path) -> Iterator[int]:
    """Another process holding ``lock`` as a running bcx would; yields its pid."""
    code = f"""
        import fcntl, os, sys, time
        fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"pid {{os.getpid()}} on host test".encode())
        print("held", flush=True)
        time.sleep(120)
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


# The demo cache: the same demonstrations are collected once, whoever asks for them.


def test_a_process_after_demos_another_is_collecting_waits_and_reads_them(tmp_path):
    cache, calls = tmp_path / "cache" / "demos.npz", tmp_path / "collections"
    code = f"""
        import time
        from pathlib import Path
        import numpy as np
        from bcx.data import store
        from bcx.data.demos import Demonstrations

        def create():
            with open({str(calls)!r}, "a") as f:
                f.write("collecting\\n")
            time.sleep(2)  # the second process starts and asks for the file meanwhile
            lengths = np.array([3, 4])
            return Demonstrations(np.zeros((7, 2)), np.ones((7, 1)), lengths, np.zeros(2))

        made, reused = store.load_or_create(Path({str(cache)!r}), create)
        print("reused" if reused else "collected", len(made))
    """

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = start()
    deadline = time.monotonic() + 60
    while not calls.exists():  # the first one is collecting: the second comes during it
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.02)
    second = start()
    outputs = [p.communicate(timeout=60) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    firsts, seconds = (out.split() for out, _ in outputs)
    assert (firsts[0], seconds[0]) == ("collected", "reused")
    assert firsts[1] == seconds[1]
    assert calls.read_text() == "collecting\n"  # the second never collected
    assert store.load(cache) is not None
    assert not list(cache.parent.glob(".*"))  # no lock or temp file left


def test_two_runs_started_together_collect_once_and_agree(tmp_path):
    """Two bcx runs of one command started at once, each with its own resume store: both
    finish with the same metrics, in a run folder each (the default one, to the microsecond),
    from one whole cache file that one of them collected."""
    runs = [_bcx(*LANE, f"resume_dir={tmp_path / f'rounds{i}'}", cwd=tmp_path) for i in (0, 1)]
    results = [_finish(process) for process in runs]
    assert [code for code, _ in results] == [0, 0], results[0][1][-3000:] + results[1][1][-3000:]
    folders = sorted((tmp_path / "outputs" / "runs").glob("*/*"))
    assert len(folders) == 2
    assert _metrics(folders[0]) == _metrics(folders[1])
    (cached,) = (tmp_path / "outputs" / "cache" / "demos").glob("*")  # no lock or temp file
    assert store.load(cached) is not None
    said = [output for _, output in results]
    assert sum("collected 2 expert episodes" in output for output in said) == 1, said


# Run folders and resume stores: one process at a time.


def test_a_second_run_given_the_same_run_folder_is_refused_before_touching_it(tmp_path):
    runs = [_bcx(*LANE, f"seed={seed}", "hydra.run.dir=run", cwd=tmp_path) for seed in (0, 1)]
    results = [_finish(process) for process in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    (winner,) = [seed for seed, (code, _) in enumerate(results) if code == 0]  # its seed
    (refusal,) = [output for code, output in results if code == 2]
    assert "bcx: error: run_dir" in refusal and "Traceback" not in refusal, refusal
    assert "in use by another bcx run" in refusal or "already holds a finished run" in refusal
    folder = tmp_path / "run"
    # Everything in the folder is the finished run's: Hydra's record of its config too.
    assert OmegaConf.load(folder / ".hydra" / "config.yaml").seed == winner
    assert json.loads((folder / "metrics.json").read_text())["config"]["seed"] == winner
    assert not (folder / RUN_LOCK).exists()


def test_a_run_folder_another_process_runs_in_is_refused(tmp_path):
    folder = tmp_path / "run"
    in_use = pytest.raises(BCXError, match="in use by another bcx run")
    with _held_elsewhere(folder / RUN_LOCK) as pid, in_use as raised:
        check_run_dir(folder)
    assert f"pid {pid}" in str(raised.value) and "hydra.run.dir=" in str(raised.value)
    check_run_dir(folder)  # the holder died: its lock went with it


def test_a_resume_store_another_process_writes_is_refused_before_collecting(make_cfg, tmp_path):
    cfg = make_cfg(*LANE, f"data.cache_dir={tmp_path / 'cache'}")
    folder = RoundStore(cfg.resume_dir, run_key(cfg)).folder
    in_use = pytest.raises(BCXError, match=r"^resume_dir .* is in use for this same config")
    with _held_elsewhere(folder.with_name(f"{folder.name}.lock")) as pid, in_use as e:
        run(cfg)
    assert f"pid {pid}" in str(e.value) and "resume_dir=<folder>" in str(e.value)
    assert not (tmp_path / "cache").exists()  # refused before any collection


# Folders are checked writable before any work.


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` made immutable (root ignores mode bits); skips where chattr cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("key", ["run_dir", "resume_dir", "data.cache_dir"])
def test_a_folder_that_is_a_file_is_refused_before_any_work(make_cfg, tmp_path, key):
    (tmp_path / "a-file").write_text("")
    cfg = make_cfg(*LANE, f"data.cache_dir={tmp_path / 'cache'}", f"{key}={tmp_path / 'a-file'}")
    with pytest.raises(BCXError, match=f"^{key}[ =]{re.escape(str(tmp_path))}/a-file is not a"):
        run(cfg)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("key", ["run_dir", "resume_dir"])
def test_a_read_only_run_or_resume_folder_is_refused_before_any_work(make_cfg, tmp_path, key):
    cfg = make_cfg(*LANE, f"data.cache_dir={tmp_path / 'cache'}", f"{key}={tmp_path / 'ro'}")
    with _read_only(tmp_path / "ro"), pytest.raises(BCXError, match=f"^{key}[ =]") as raised:
        run(cfg)
    assert "not a folder bcx can write" in str(raised.value)
    assert not (tmp_path / "cache").exists()


def test_a_read_only_cache_warns_first_and_the_run_goes_on(make_cfg, tmp_path, caplog):
    cache = tmp_path / "cache"
    with _read_only(cache), caplog.at_level(logging.INFO):
        run(make_cfg(*LANE, f"data.cache_dir={cache}"))
    said = caplog.text
    assert f"data.cache_dir={cache} cannot be written" in said
    assert said.index("cannot be written") < said.index("collected 2 expert episodes")
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not list(cache.iterdir())


def test_a_read_only_hydra_run_dir_is_one_line_and_exit_2(tmp_path):
    with _read_only(tmp_path / "ro"):
        code, output = _finish(_bcx(*LANE, f"hydra.run.dir={tmp_path / 'ro'}", cwd=tmp_path))
    assert code == 2 and "bcx: error: run_dir" in output and "Traceback" not in output, output
    assert not (tmp_path / "outputs").exists()


# Relative folders mean the launch folder, also with hydra.job.chdir=true.


def test_relative_paths_resolve_against_the_launch_folder(make_cfg, tmp_path):
    relative = ("data.cache_dir=demos", "resume_dir=rounds", "run_dir=runs/a")
    cfg = make_cfg(*relative, "expert=sb3", "expert.path=experts/m.zip")
    launch_paths(cfg, tmp_path)
    assert cfg.data.cache_dir == str(tmp_path / "demos")
    assert cfg.resume_dir == str(tmp_path / "rounds")
    assert cfg.run_dir == str(tmp_path / "runs" / "a")
    assert cfg.expert.path == str(tmp_path / "experts" / "m.zip")
    assert cfg.data.path is None  # unset stays unset
    absolute = make_cfg(f"data.cache_dir={tmp_path / 'elsewhere'}")
    launch_paths(absolute, "/somewhere/else")
    assert absolute.data.cache_dir == str(tmp_path / "elsewhere")


def test_where_the_demo_cache_lies_does_not_change_the_resume_key(make_cfg, tmp_path):
    here = make_cfg("data.cache_dir=outputs/cache/demos")
    moved = make_cfg(f"data.cache_dir={tmp_path / 'run' / 'outputs' / 'cache' / 'demos'}")
    assert run_key(here) == run_key(moved)
    assert run_key(here) != run_key(make_cfg("data.episodes=5"))


# Until bcx.config stops refusing hydra.job.chdir=true, the run below lifts that check.
CHDIR = """
import sys
import bcx.config
from bcx.train import cli

if hasattr(bcx.config, "_refuse_chdir"):
    bcx.config._refuse_chdir = lambda cfg: None
sys.argv = ["bcx", *sys.argv[1:]]
cli()
"""


def test_with_chdir_the_cache_and_resume_store_stay_in_the_launch_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", CHDIR, *LANE, "hydra.run.dir=run", "hydra.job.chdir=true"],
        cwd=tmp_path,
        env={**ENV, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "outputs" / "cache" / "demos").glob("*.npz"))) == 1
    assert (tmp_path / "outputs" / "cache" / "rounds").is_dir()
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "outputs").exists()  # nothing moved into the run folder
