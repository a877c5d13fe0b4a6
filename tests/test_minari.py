"""Minari datasets: what bcx writes reads back unchanged, the ``minari`` package itself loads it
as the same episodes, and bad files or arguments fail with a message naming the path."""

from __future__ import annotations

import itertools
import json

import gymnasium as gym
import h5py
import numpy as np
import pytest

from bcx.data import minari as bcx_minari
from bcx.data.demos import Demonstrations
from bcx.data.minari import read_minari, write_minari
from bcx.errors import BCXError
from bcx.pipeline import run
from tests.conftest import TINY, run_cli

DATASET_ID = "bcx/pendulum/random-v0"
SEEDS = [0, 1, 2, 3]


def make_env() -> gym.Env:
    # Random actions topple the pendulum within ~10 steps: a short limit gives both endings.
    return gym.make("InvertedPendulum-v5", max_episode_steps=8)


def run_episodes(env: gym.Env, seeds: list[int]) -> dict:
    """Random-action episodes with everything Minari stores: demos plus the per-step rewards,
    final observations and how each episode ended."""
    rng = np.random.default_rng(0)
    obs_rows, actions, rewards, lengths, final_obs, terminated = [], [], [], [], [], []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done, steps = False, 0
        while not done:
            action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
            next_obs, reward, term, trunc, _ = env.step(action)
            obs_rows.append(obs)
            actions.append(action)
            rewards.append(reward)
            obs, done, steps = next_obs, term or trunc, steps + 1
        lengths.append(steps)
        final_obs.append(obs)
        terminated.append(term)
    rewards = np.array(rewards, dtype=np.float64)
    bounds = np.cumsum([0, *lengths])
    demos = Demonstrations(
        obs=np.array(obs_rows, dtype=np.float32),
        actions=np.array(actions, dtype=np.float32),
        episode_lengths=np.array(lengths, dtype=np.int64),
        returns=np.array([rewards[a:b].sum() for a, b in itertools.pairwise(bounds)]),
    )
    extra = {"final_obs": np.array(final_obs), "terminated": np.array(terminated)}
    return {"demos": demos, "rewards": rewards, **extra}


@pytest.fixture(scope="module")
def episodes() -> dict:
    data = run_episodes(make_env(), SEEDS)
    assert 0 < data["terminated"].sum() < len(SEEDS)  # both endings are exercised
    return data


@pytest.fixture
def dataset(tmp_path, episodes):
    path = tmp_path / "datasets" / DATASET_ID
    write_minari(
        episodes["demos"],
        path,
        env=make_env(),
        dataset_id=DATASET_ID,
        rewards=episodes["rewards"],
        final_obs=episodes["final_obs"],
        terminated=episodes["terminated"],
        seeds=SEEDS,
        algorithm_name="random",
    )
    return path


def assert_same_demos(a: Demonstrations, b: Demonstrations) -> None:
    for name, array in a.as_arrays().items():
        np.testing.assert_array_equal(array, b.as_arrays()[name], err_msg=name)
        assert array.dtype == b.as_arrays()[name].dtype, name


def test_round_trip_through_bcx(dataset, episodes):
    assert sorted(p.name for p in (dataset / "data").iterdir()) == [
        "main_data.hdf5",
        "metadata.json",
    ]
    assert not [p for p in dataset.parent.iterdir() if p.name.startswith(".")]  # no temp folder
    for where in (dataset, dataset / "data", dataset / "data" / "main_data.hdf5"):
        assert_same_demos(read_minari(where), episodes["demos"])


def test_minari_loads_the_same_episodes(dataset, episodes, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset.parents[2]))
    loaded = minari.load_dataset(DATASET_ID)
    demos = episodes["demos"]
    assert loaded.total_episodes == len(SEEDS) and loaded.total_steps == len(demos)
    assert loaded.observation_space == make_env().observation_space
    assert loaded.recover_environment().spec.max_episode_steps == 8
    bounds = np.cumsum([0, *demos.episode_lengths])
    for i, episode in enumerate(loaded.iterate_episodes()):
        rows = slice(bounds[i], bounds[i + 1])
        np.testing.assert_allclose(episode.observations[:-1], demos.obs[rows], rtol=1e-7)
        np.testing.assert_allclose(episode.observations[-1], episodes["final_obs"][i])
        np.testing.assert_allclose(episode.actions, demos.actions[rows])
        np.testing.assert_array_equal(episode.rewards, episodes["rewards"][rows])
        assert episode.terminations[-1] == episodes["terminated"][i]
        assert episode.truncations[-1] != episodes["terminated"][i]
        assert not episode.terminations[:-1].any() and not episode.truncations[:-1].any()
        assert episode.infos == {}
    assert [m["seed"] for m in loaded.storage.get_episode_metadata(range(len(SEEDS)))] == SEEDS


def test_unreadable_paths_fail_naming_the_path(tmp_path):
    with pytest.raises(BCXError, match="no Minari dataset at"):
        read_minari(tmp_path / "missing")
    corrupt = tmp_path / "corrupt" / "data" / "main_data.hdf5"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(BCXError, match="not a readable Minari HDF5 file"):
        read_minari(tmp_path / "corrupt")


def test_dict_observations_are_rejected(tmp_path, dataset):
    metadata = json.loads((dataset / "data" / "metadata.json").read_text())
    metadata["observation_space"] = json.dumps({"type": "Dict", "subspaces": {}})
    (dataset / "data" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BCXError, match="flat Box observations"):
        read_minari(dataset)

    lone = tmp_path / "lone.hdf5"  # no metadata.json beside it: the arrays' layout decides
    with h5py.File(lone, "w") as h5:
        group = h5.create_group("episode_0")
        group.create_group("observations").create_dataset("x", data=np.zeros((3, 2)))
        group.create_dataset("actions", data=np.zeros((2, 1)))
        group.create_dataset("rewards", data=np.zeros(2))
    with pytest.raises(BCXError, match="episode_0/observations is a group"):
        read_minari(lone)


def test_bad_writes_fail_and_leave_nothing(tmp_path, dataset, episodes, monkeypatch):
    arguments = {
        "env": make_env(),
        "dataset_id": DATASET_ID,
        **{k: episodes[k] for k in ("rewards", "final_obs", "terminated")},
    }
    with pytest.raises(BCXError, match="already exists"):
        write_minari(episodes["demos"], dataset, **arguments)
    with pytest.raises(BCXError, match="not a Minari id"):
        write_minari(episodes["demos"], tmp_path / "x", **{**arguments, "dataset_id": "no version"})
    with pytest.raises(ValueError, match="do not sum to demos.returns"):
        write_minari(
            episodes["demos"], tmp_path / "x", **{**arguments, "rewards": 0 * episodes["rewards"]}
        )

    def crash(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bcx_minari, "_metadata", crash)
    with pytest.raises(RuntimeError):
        write_minari(episodes["demos"], tmp_path / "x", **arguments)
    assert [p.name for p in tmp_path.iterdir()] == ["datasets"]  # no dataset, no temp folder


# D1: a dataset recorded on another env stops before any work, naming data.path and both ids.
QUICK_RUN = ("data.episodes=3", "trainer.max_steps=100", "rollout.episodes=2", *TINY)


def without_env_spec(dataset):
    """The dataset as a writer that records no env_spec leaves it."""
    file = dataset / "data" / "metadata.json"
    metadata = json.loads(file.read_text())
    del metadata["env_spec"]
    file.write_text(json.dumps(metadata))
    return dataset


def test_dataset_of_another_env_fails_on_the_command_line(tmp_path, dataset):
    # The catalogue's `bcx env=fork data.source=minari data.path=<InvertedPendulum dataset>`:
    # same observation width, action widths 1 against 2.
    result = run_cli(
        "env=fork", "data.source=minari", f"data.path={dataset}", *QUICK_RUN, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("bcx: error:")]
    assert len(errors) == 1, result.stderr
    for text in (f"data.path={dataset}", "recorded on env InvertedPendulum-v5", "bcx/Fork-v0"):
        assert text in errors[0], errors[0]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("metrics.json")) and not list(tmp_path.rglob("*.ckpt"))


def test_dataset_of_another_env_fails_before_training(make_cfg, tmp_path, dataset):
    # Shapes differ (4 against Lane's 11 observations): it used to train, then crash at the
    # first rollout measurement.
    cfg = make_cfg("env=lane", "data.source=minari", f"data.path={dataset}", *QUICK_RUN)
    with pytest.raises(BCXError, match=r"recorded on env InvertedPendulum-v5.*bcx/Lane-v0"):
        run(cfg)
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_dataset_without_env_spec_is_checked_by_its_widths(make_cfg, tmp_path, dataset):
    cfg = make_cfg("env=fork", "data.source=minari", f"data.path={without_env_spec(dataset)}")
    with pytest.raises(BCXError, match=r"action shape \(1,\) where env.id=bcx/Fork-v0 has \(2,\)"):
        run(cfg)
    assert not (tmp_path / "run").exists()


def test_check_recorded_on(dataset, caplog):
    demos, env = read_minari(dataset), make_env()
    spaces = {"observation_space": env.observation_space, "action_space": env.action_space}
    metadata = bcx_minari.read_metadata(dataset)
    bcx_minari.check_recorded_on(
        demos, metadata, env_id="InvertedPendulum-v5", path=dataset, **spaces
    )
    # Same widths, another env: the id alone decides (HalfCheetah data for Walker2d).
    with pytest.raises(
        BCXError, match="recorded on env InvertedPendulum-v5, but env.id is Other-v0"
    ):
        bcx_minari.check_recorded_on(demos, metadata, env_id="Other-v0", path=dataset, **spaces)
    # No env_spec and the right widths: accepted, and the log says only the widths were checked.
    bare = bcx_minari.read_metadata(without_env_spec(dataset))
    with caplog.at_level("WARNING"):
        bcx_minari.check_recorded_on(demos, bare, env_id="Other-v0", path=dataset, **spaces)
    assert "records no env_spec" in caplog.text
    assert bcx_minari.read_metadata(dataset / "data" / "main_data.hdf5") is not None
