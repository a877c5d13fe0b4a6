"""``bcx-export`` writes expert demonstrations as a Minari dataset that a run can train on."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from bcx.conf_dir import CONF_DIR
from bcx.data.minari import read_minari
from bcx.errors import BCXError
from bcx.pipeline import run
from bcx.tools.export import export
from tests.conftest import TINY


def test_exported_demonstrations_train_a_run(make_cfg, tmp_path):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("export_minari", ["env=lane", "episodes=3", f"path={tmp_path / 'ds'}"])
    folder = export(cfg)
    demos = read_minari(folder)
    assert demos.num_episodes == 3 and len(demos) == 1500  # the expert never leaves the road
    metrics = run(
        make_cfg(
            "env=lane",
            "data.source=minari",
            f"data.path={folder}",
            "data.episodes=3",
            "trainer.max_steps=100",
            *TINY,
        )
    )
    assert metrics["expert/labels"] == 1500
    assert np.isfinite(metrics["shift/dataset_nll"])


def test_minari_source_needs_enough_episodes(make_cfg, tmp_path):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("export_minari", ["env=lane", "episodes=2", f"path={tmp_path / 'ds'}"])
    folder = export(cfg)
    with pytest.raises(BCXError, match="data.episodes=5 but the Minari dataset"):
        run(make_cfg("env=lane", "data.source=minari", f"data.path={folder}", "data.episodes=5"))
    with pytest.raises(BCXError, match="data.source=minari needs data.path"):
        run(make_cfg("env=lane", "data.source=minari"))
    with pytest.raises(BCXError, match="data.source must be one of collect, minari"):
        run(make_cfg("env=lane", "data.source=d4rl"))
