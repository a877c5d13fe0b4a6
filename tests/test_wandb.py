"""wandb dashboards, offline: sweep labels, the resolved config and the final metrics as summary,
read back from the run's own .wandb file (no account, no network)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import wandb
from hydra.conf import HydraConf
from omegaconf import OmegaConf
from wandb.proto import wandb_internal_pb2

from bcx.pipeline import run
from bcx.results.loggers import sweep_labels
from tests.conftest import TINY, run_cli

BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of framed records
HEADER = 7  # file: ":W&B" + magic (2) + version (1); record: crc (4) + length (2) + type (1)
TINY_WANDB = ("data.episodes=2", "trainer.max_steps=20", "logger=wandb", *TINY)


def offline_run(run_dir: Path) -> dict:
    """What the offline wandb run in run_dir holds: its run record's labels and config, and the
    summary and config updates logged after it, merged in order."""
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    info: dict = {"config": {}, "summary": {}}
    for record in _records(path.read_bytes()):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info.update(
                group=record.run.run_group,
                job_type=record.run.job_type,
                name=record.run.display_name,
                project=record.run.project,
                tags=list(record.run.tags),
            )
            info["config"].update(_items(record.run.config.update))
        elif kind == "config":
            info["config"].update(_items(record.config.update))
        elif kind == "summary":
            info["summary"].update(_items(record.summary.update))
    return info


def _records(data: bytes):
    assert data[:4] == b":W&B"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if left < HEADER or (kind == 0 and length == 0):  # the block's zero padding
            pos += left
            continue
        pending += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _items(updates) -> dict:
    return {u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in updates}


def test_single_run_logs_resolved_config_and_final_metrics(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_cfg("env=reacher", "logger.group=mine", "logger.tags=[smoke]", *TINY_WANDB)
    metrics = run(cfg)
    wandb.teardown()  # the wandb service writes the run file after finish() returns
    logged = offline_run(tmp_path / "run")
    assert (logged["group"], logged["job_type"], logged["tags"]) == ("mine", "", ["smoke"])
    assert logged["project"] == "bcx"
    assert logged["config"]["env"] == {
        "id": "Reacher-v5",
        "kwargs": {},
        "pixels": {"render": {"width": 64, "height": 64}},
    }
    assert logged["config"]["trainer"]["max_steps"] == 20
    assert logged["config"]["run_dir"] == str(tmp_path / "run")  # resolved, not ${...}
    assert {key: logged["summary"].get(key) for key in metrics} == metrics


def test_sweep_jobs_share_the_experiment_group_and_their_choice(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "experiment=heads_multimodal",
        "policy=gaussian,gmm",
        "seed=3",
        "data.val_episodes=1",
        "rollout.episodes=2",
        "figure.action_samples=false",
        f"hydra.sweep.dir={sweep}",
        f"data.cache_dir={tmp_path / 'demos'}",
        f"resume_dir={tmp_path / 'rounds'}",
        *TINY_WANDB,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = [offline_run(sweep / str(num)) for num in (0, 1)]
    assert [job["group"] for job in jobs] == ["heads_multimodal"] * 2
    assert [job["job_type"] for job in jobs] == ["policy=gaussian", "policy=gmm"]
    assert [job["name"] for job in jobs] == ["policy=gaussian,seed=3", "policy=gmm,seed=3"]
    heads = [job["config"]["policy"]["_target_"].split(".")[-2] for job in jobs]
    assert heads == ["gaussian", "gmm"]
    assert [job["config"]["seed"] for job in jobs] == [3, 3]
    assert jobs[0]["config"]["env"]["id"] == "bcx/Fork-v0"


def test_plain_multirun_groups_by_sweep_folder_and_types_by_command_line_sweeps(tmp_path):
    """Only the launch command's sweeps (read back from multirun.yaml) make the job type; a key
    set once for the whole sweep (env) does not."""
    sweep = tmp_path / "multirun" / "2025-01-31" / "12-00-00"
    sweep.mkdir(parents=True)
    launched = ["env=reacher", "optim.lr=1e-3,1e-4", "+equal_budget=dart,dagger", "seed=0,1"]
    OmegaConf.save({"hydra": {"overrides": {"task": launched}}}, sweep / "multirun.yaml")
    job = ["env=reacher", "optim.lr=1e-4", "+equal_budget=dagger", "seed=1"]
    hydra = OmegaConf.merge(
        OmegaConf.structured(HydraConf),
        {
            "mode": "MULTIRUN",
            "runtime": {"cwd": str(tmp_path), "choices": {"experiment": None}},
            "overrides": {"task": job},
            "sweep": {"dir": str(sweep)},
            "sweeper": {"params": None},
        },
    )
    assert sweep_labels(hydra) == {
        "group": "multirun/2025-01-31/12-00-00",
        "job_type": "optim.lr=1e-4,equal_budget=dagger",
        "name": "optim.lr=1e-4,equal_budget=dagger,seed=1",
    }
    long_value = "x" * 70
    hydra.overrides.task = [f"optim.lr={long_value}", "+equal_budget=dagger", "seed=1"]
    job_type = sweep_labels(hydra)["job_type"]
    assert len(job_type) == 64 and job_type.startswith("x" * 64)  # values only, then cut
    hydra.mode = "RUN"
    assert sweep_labels(hydra) == {"group": None, "job_type": None, "name": None}
