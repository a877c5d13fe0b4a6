"""Users extend bcx without editing it: docs/extending.md's package (a head, an env with its
expert, a mitigation; each one Python file and one YAML) is written out from the page's code
blocks into a temp folder and runs through the real command line with a config folder of its
own. Its options are listed in an unknown-choice error, a config folder that does not exist is
named, and its expert on another env fails bcx's space check."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from bcx.command_line import check_command_line
from bcx.conf_dir import CONF_DIR
from bcx.errors import BCXError
from tests.conftest import REPO, TINY, run_cli

DOCS = REPO / "docs" / "extending.md"
PACKAGE = "my_ext"
# A tiny run of the page's command: 3 episodes (1 held out), 50 steps, 2 evaluation episodes.
SMALL = [
    *TINY,
    "trainer.val_check_interval=25",
    "data.episodes=3",
    "trainer.max_steps=50",
    "rollout.episodes=2",
    "rollout.num_envs=2",
    "logger=none",
]


def files(markdown: str) -> dict[str, str]:
    """Every code block of the page with a title: its path in the project -> its text."""
    blocks = re.findall(r'```\w+ title="([^"]+)"\n(.*?)```', markdown, flags=re.DOTALL)
    return dict(blocks)


def commands(markdown: str) -> list[list[str]]:
    """The ``bcx`` command lines of the page's bash blocks, as arguments after ``bcx``."""
    lines = [
        line
        for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL)
        for line in block.splitlines()
    ]
    return [shlex.split(line, comments=True)[1:] for line in lines if line.startswith("bcx ")]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """docs/extending.md's project, written from its code blocks."""
    root = tmp_path_factory.mktemp("my_project")
    written = files(DOCS.read_text())
    assert {
        "my_ext/laplace.py",
        "my_ext/point.py",
        "my_ext/jitter.py",
        "my_configs/policy/laplace.yaml",
        "my_configs/env/point.yaml",
        "my_configs/expert/point.yaml",
        "my_configs/mitigation/jitter.yaml",
    } <= set(written), sorted(written)
    (root / PACKAGE).mkdir()
    (root / PACKAGE / "__init__.py").write_text("")
    for name, text in written.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # The same configs shipped inside the package, for hydra.searchpath=[pkg://my_ext.conf].
    shutil.copytree(root / "my_configs", root / PACKAGE / "conf")
    (root / PACKAGE / "conf" / "__init__.py").write_text("")
    return root


@pytest.fixture
def on_path(project, monkeypatch):
    """The user's package importable in this process (and its subprocesses), then forgotten."""
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(project), _pythonpath()])))
    monkeypatch.chdir(project)
    yield project
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def _pythonpath() -> str:
    return os.environ.get("PYTHONPATH", "")


def test_the_pages_command_runs_the_users_head_env_expert_and_mitigation(on_path):
    (command,) = [c for c in commands(DOCS.read_text()) if "mitigation=jitter" in c]
    assert command[:2] == ["--config-dir", "my_configs"]
    result = run_cli(*command, *SMALL, "hydra.run.dir=run", cwd=on_path)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((on_path / "run" / "metrics.json").read_text())
    metrics, config = saved["metrics"], saved["config"]
    assert {
        "train/nll",
        "val/nll",
        "rollout/return",
        "expert/return",
        "random/return",
        "shift/on_policy_nll",
        "shift/gap_median",
        "expert/labels",
    } <= set(metrics), sorted(metrics)
    assert config["policy"]["_target_"] == "my_ext.laplace.LaplaceHead"
    assert config["expert"]["_target_"] == "my_ext.point.PointExpert"
    assert config["mitigation"]["_target_"] == "my_ext.jitter.Jitter"
    assert config["env"]["id"] == "my_ext/Point-v0"
    # The proportional expert beats random actions on its own env.
    assert metrics["expert/return"] > metrics["random/return"]


def test_an_unknown_choice_lists_the_users_options(on_path):
    """The check the command runs first (the next test runs one through the command)."""
    with pytest.raises(BCXError) as error:
        check_command_line(["--config-dir", "my_configs", "policy=laplce"], CONF_DIR, "train")
    heads = sorted([*(p.stem for p in (Path(CONF_DIR) / "policy").glob("*.yaml")), "laplace"])
    assert str(error.value) == (
        "policy=laplce is not an option of policy; did you mean policy=laplace? options: "
        f"{', '.join(heads)}."
    )
    with pytest.raises(BCXError, match=r"^env=nope is not an option of env; .*\bpoint\b"):
        check_command_line(["--config-dir", "my_configs", "env=nope"], CONF_DIR, "train")


def test_a_config_dir_that_does_not_exist_is_named(on_path):
    result = run_cli("--config-dir", "no_configs", "env=point", cwd=on_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("bcx: error: --config-dir no_configs is not a folder of configs (")
    assert str(on_path / "no_configs") in line

    with pytest.raises(BCXError, match=r"^config_dir=no_configs is not a folder of configs"):
        __import__("bcx").compose(["env=point"], config_dir="no_configs")
    with pytest.raises(BCXError, match=r"hydra.searchpath names file://no_configs, but .*no_"):
        check_command_line(["hydra.searchpath=[file://no_configs]"], CONF_DIR, "train")


def test_every_way_the_page_names_a_config_folder_finds_the_users_options(on_path):
    """The page's other commands (--config-dir, hydra.searchpath file:// and pkg://), as the
    command checks them, and bcx.compose's config_dir."""
    others = [c for c in commands(DOCS.read_text()) if "mitigation=jitter" not in c]
    assert len(others) == 3, others
    for command in others:
        check_command_line([*command, "env=point", *SMALL], CONF_DIR, "train")
    import bcx

    cfg = bcx.compose(["env=point", "policy=laplace", "mitigation=jitter"], config_dir="my_configs")
    assert (cfg.env.module, cfg.policy.init_scale, cfg.mitigation.copies) == (
        "my_ext.point",
        0.5,
        1,
    )
    with pytest.raises(BCXError, match=r"^policy.init_scale must be a finite number"):
        bcx.compose(["env=point", "policy=laplace", "policy.init_scale=x"], config_dir="my_configs")


def test_the_users_expert_on_another_env_fails_the_space_check(on_path):
    import bcx
    from bcx.builders import build_expert, make_envs

    cfg = bcx.compose(["env=inverted_pendulum", "expert=point"], config_dir="my_configs")
    with pytest.raises(BCXError) as error:
        build_expert(cfg, make_envs(cfg.env, 1)[0])
    assert str(error.value).startswith(
        "expert 'point' serves observations of shape (2,) and actions of shape (2,), but env "
        "InvertedPendulum-v5 has (4,) and (1,);"
    )


def test_an_env_module_that_cannot_be_imported_is_named(on_path):
    import bcx

    with pytest.raises(BCXError, match=r"^env.module=my_ext.nope cannot be imported \(Module"):
        bcx.compose(["env=point", "env.module=my_ext.nope"], config_dir="my_configs")
    with pytest.raises(BCXError, match=r"^env.module must be null or a module name"):
        bcx.compose(["env=point", "env.module=my ext"], config_dir="my_configs")
