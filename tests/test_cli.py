"""Bad input stops before any work with one clear sentence and a non-zero exit code."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import run_cli

QUICK = ["trainer.enable_progress_bar=false"]


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("policy=gausian", ["policy", "gaussian_fixed"]),  # lists the valid choices
        ("env=cartpole", ["env", "inverted_pendulum", "lane"]),
        ("data.episdoes=5", ["data.episdoes"]),
        ("data.episodes=0", ["data.episodes", "positive integer"]),
        ("trainer.max_steps=0", ["trainer.max_steps", "positive integer"]),
        ("rollout.episodes=-3", ["rollout.episodes", "positive integer"]),
        ("optim.lr=-0.1", ["optim.lr", "> 0"]),
        ("optim.lr=0", ["optim.lr", "> 0"]),
        ("expert=pd", ["expert 'pd'", "(10,)", "(4,)"]),  # default env is IDP: obs (9,)
    ],
)
def test_bad_input_fails_fast_with_a_clear_error(tmp_path, override, says):
    extra = ["env=inverted_pendulum"] if override == "expert=pd" else []
    result = run_cli(*extra, override, *QUICK, cwd=tmp_path)
    assert result.returncode != 0
    for text in says:
        assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs" / "cache").exists()  # stopped before collecting anything


def test_non_finite_loss_stops_with_an_error_and_keeps_what_was_written(tmp_path):
    args = ["env=reacher", "data.episodes=3", "trainer.max_steps=200", "checkpoint.every_n_steps=1"]
    first = run_cli(*args, "trainer.max_steps=5", "hydra.run.dir=good", *QUICK, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    cache = sorted((tmp_path / "outputs" / "cache" / "demos").glob("*.npz"))
    before = [f.read_bytes() for f in cache]

    result = run_cli(*args, "optim.lr=1e30", "hydra.run.dir=bad", *QUICK, cwd=tmp_path)
    assert result.returncode == 2
    assert "became" in result.stderr and "optim.lr" in result.stderr
    assert [f.read_bytes() for f in cache] == before  # cached demos untouched
    assert (tmp_path / "good" / "metrics.json").exists()
    last = torch.load(tmp_path / "bad" / "checkpoints" / "last.ckpt", weights_only=False)
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ("trainer.devices=0", "trainer.devices must be a positive integer or auto"),
        ("+env.kwargs.reset_noise_scal=0", "did you mean env.kwargs.reset_noise_scale?"),
        ("run_dir=elsewhere", "run_dir=elsewhere would split the run"),
    ],
)
def test_checks_against_the_machine_and_hydra_end_in_one_line(tmp_path, overrides, says):
    """Catalogue V8, V6 and Z9: what Lightning, gymnasium or a split run folder used to report
    after the demonstrations were read (or not at all) is one line, exit 2, before any work."""
    result = run_cli("env=inverted_pendulum", *overrides.split(), *QUICK, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bcx: error: "), result.stderr
    assert says in lines[0]
    assert not (tmp_path / "outputs").exists()  # no run folder, no demonstrations
    assert not (tmp_path / "elsewhere").exists()
