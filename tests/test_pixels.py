"""Learning from pixels: Dict observations flow from the env's cameras through collection, the
demo cache, training and the rollout measurement; the expert reads the privileged state; bad
pixel settings stop before any work."""

from __future__ import annotations

import pickle
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from bcx import api
from bcx.builders import make_envs
from bcx.conf_dir import CONF_DIR
from bcx.config import validate
from bcx.data import store
from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations, stack_index
from bcx.data.disk_rows import DiskRows
from bcx.encoders.conv import ConvEncoder
from bcx.errors import BCXError
from bcx.experts.stanley import StanleyExpert
from bcx.mitigations.augment import Augment
from bcx.pipeline import check_folders, run
from bcx.rollout import rollout
from tests.conftest import TINY

PIXELS = ["env=lane", "obs.keys=[pixels]", "encoder=conv", "data.batch_size=64"]


def test_a_camera_env_gives_uint8_frames_beside_a_float32_state_and_the_cache_keeps_them(
    make_cfg, tmp_path
):
    cfg = make_cfg(*PIXELS)
    envs = make_envs(cfg.env, 2, images=True)
    space = envs[0].observation_space
    assert space["pixels"].dtype == np.uint8 and space["pixels"].shape == (32, 32, 3)
    assert space["state"].dtype == np.float32
    demos = Collector(StanleyExpert(env=envs[0]), envs, first_seed=0).expert_episodes(2)
    assert demos.frames["pixels"].shape == (len(demos), 32, 32, 3)
    assert demos.frames["pixels"].dtype == np.uint8
    assert demos.obs.dtype == np.float32 and demos.obs.shape[1] == space["state"].shape[0]
    assert demos.frames["pixels"].std() > 10  # a picture, not a blank
    store.save(demos, tmp_path / "demos.npz")
    again = store.load(tmp_path / "demos.npz")
    np.testing.assert_array_equal(again.frames["pixels"], demos.frames["pixels"])
    train, val = demos.split(1)  # episodes slice their frames with them
    assert len(train.frames["pixels"]) == len(train) and len(val.frames["pixels"]) == len(val)
    assert np.shares_memory(train.frames["pixels"], demos.frames["pixels"])  # a view, no copy


def test_cached_images_stay_on_disk_are_read_by_rows_and_a_flipped_byte_is_damage(tmp_path, caplog):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    demos = Demonstrations(
        obs=rng.normal(size=(12, 3)).astype(np.float32),
        actions=rng.normal(size=(12, 1)).astype(np.float32),
        episode_lengths=np.array([5, 7]),
        returns=np.zeros(2),
        frames={"pixels": frames},
    )
    path = tmp_path / "demos.npz"
    store.save(demos, path)
    again = store.load(path)
    images = again.frames["pixels"]
    assert isinstance(images, DiskRows) and not isinstance(again.obs, DiskRows)  # left on disk
    np.testing.assert_array_equal(np.asarray(images), frames)
    rows = np.array([[3, 3], [11, 0]])  # any shape, repeats, out of order: a stack index
    np.testing.assert_array_equal(images[rows], frames[rows])
    np.testing.assert_array_equal(images[-1], frames[-1])
    train, val = again.split(1)  # episode slices stay on disk, and read their own rows
    assert isinstance(train.frames["pixels"], DiskRows) and len(val.frames["pixels"]) == 7
    np.testing.assert_array_equal(val.frames["pixels"][[0, 6]], frames[[5, 11]])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(val.frames["pixels"]))[2], frames[7])
    with pytest.raises(IndexError):
        val.frames["pixels"][[7]]
    on_disk = path.read_bytes()
    damaged = bytearray(on_disk)
    damaged[on_disk.find(frames.tobytes()) + 100] ^= 0xFF  # inside the image bytes
    path.write_bytes(bytes(damaged))
    with caplog.at_level("WARNING", logger="bcx"):
        assert store.load(path) is None  # the checksum is still checked
    assert "CRC" in caplog.text and "treating it as absent" in caplog.text


def test_frame_stacks_pad_with_the_first_frame_and_rollouts_see_what_training_sees(make_cfg):
    np.testing.assert_array_equal(
        stack_index(np.array([2, 3]), 3),
        [[0, 0, 0], [0, 0, 1], [2, 2, 2], [2, 2, 3], [2, 3, 4]],  # never into the last episode
    )
    envs = make_envs(make_cfg(*PIXELS).env, 2, images=True)
    expert = StanleyExpert(env=envs[0])
    seen = []

    def driver(obs):  # the expert drives; what a learner would see is recorded
        seen.append(obs["pixels"])
        return expert(obs["state"])

    runs = rollout(driver, envs, [5, 6], horizon=3)
    demos = Demonstrations.from_trajectories(runs)
    stacks = demos.stacked_frames("pixels", 3, np.arange(len(demos)))
    assert stacks.shape == (len(demos), 3, 32, 32, 3)
    first = seen[0][0]  # env 0's window at its first step: its first frame three times
    assert all(np.array_equal(frame, first[0]) for frame in first)
    np.testing.assert_array_equal(stacks[0], first)
    np.testing.assert_array_equal(stacks[4], seen[4][0])  # step 4 of the first episode
    assert not np.array_equal(stacks[4][0], stacks[4][2])  # the car moved: frames differ


def test_random_shift_is_per_sample_and_only_in_training():
    torch.manual_seed(0)
    encoder = ConvEncoder(state_dim=0, image_shape=(32, 32, 3), random_shift=4)
    same = torch.randint(0, 256, (1, 32, 32, 3), dtype=torch.uint8).expand(8, -1, -1, -1)
    state = torch.zeros(8, 0)
    trained = encoder.train()(state, same)
    assert len({tuple(row.tolist()) for row in trained.round(decimals=5)}) > 1  # per sample
    evaluated = encoder.eval()(state, same)
    assert torch.equal(evaluated, evaluated[:1].expand_as(evaluated))  # no shift in eval
    assert torch.equal(evaluated, encoder(state, same))  # and no randomness


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["env=lane", "obs.keys=[pixels]", "encoder=conv", "env.pixels=null"], "renders none"),
        (["env=lane", "obs.keys=[pixels/top]", "encoder=conv"], "does not observe"),
        (["env=lane", "obs.keys=[pixels]"], "encoder=mlp reads the state only"),
        (["env=lane", "encoder=conv"], "encoder=conv reads camera images"),
        (["env=lane", "obs.keys=[pixels]", "encoder=conv", "encoder.layers=9"], "at least 35x35"),
        (["env=lane", "obs.keys=[]"], "obs.keys must be a non-empty list"),
        (["env=lane", "obs.horizon=0"], "obs.horizon must be a positive integer"),
        (["env=lane", "obs.keys=[camera]"], "obs.keys must be a non-empty list"),
        (
            ["env=lane", "obs.keys=[pixels,pixels/left]", "encoder=conv"]
            + ["env.pixels.cameras=[center,left]"],
            "one camera",
        ),
        (["env=lane", "obs.keys=[pixels]", "encoder=conv", "env.pixels.image_size=8"], "16"),
        (["env=lane", "obs.keys=[pixels]", "encoder=conv", "env.pixels.cameras=[roof]"], "roof"),
        (
            ["env=lane", "obs.keys=[pixels]", "encoder=conv", "data.source=minari"]
            + ["data.path=tests"],
            "reads states and actions only",
        ),
    ],
)
def test_bad_pixel_settings_stop_before_any_work(make_cfg, tmp_path, overrides, words):
    cfg = make_cfg(*overrides, *TINY)
    with pytest.raises(BCXError, match=words.replace("[", r"\[")):
        validate(cfg)
        check_folders(cfg)
        run(cfg)
    assert not (tmp_path / "run").exists()


def test_a_cache_file_with_other_images_stops_before_training(make_cfg, tmp_path):
    """The cache key tells configs' files apart (a state learner's file holds no images, so a
    pixel learner never reuses it); a file copied in from elsewhere is named, not trained on."""
    common = [*PIXELS, "data.episodes=3", "trainer.max_steps=2", "rollout.episodes=1"]
    common += ["rollout.num_envs=1", f"data.cache_dir={tmp_path / 'cache'}", *TINY]
    run(make_cfg("env=lane", *common[1:], "obs.keys=[state]", "encoder=mlp",
                 f"run_dir={tmp_path / 'state'}"))  # fmt: skip
    run(make_cfg(*common, f"run_dir={tmp_path / 'first'}"))
    [pixels_file] = [p for p in (tmp_path / "cache").glob("*.npz") if store.load(p).frames]
    demos = store.load(pixels_file)
    smaller = np.ascontiguousarray(np.asarray(demos.frames["pixels"])[:, :16, :16])
    store.save(replace(demos, frames={"pixels": smaller}), pixels_file)
    with pytest.raises(BCXError, match=r"holds images \{'pixels': \[16, 16, 3\]\}.*\[32, 32, 3\]"):
        run(make_cfg(*common, f"run_dir={tmp_path / 'second'}"))
    assert not (tmp_path / "second" / "metrics.json").exists()


def test_bc_from_32x32_pixels_steers_drifts_and_loads_back(make_cfg):
    """The ALVINN setting: the forward camera alone, two expert episodes. The trained policy
    loads from its run folder and acts on the env's Dict observations."""
    result = api.run(
        make_cfg(
            *PIXELS,
            "data.episodes=3",
            "trainer.max_steps=600",
            "rollout.episodes=4",
            "rollout.num_envs=4",
            *TINY,
        )
    )
    metrics = result.metrics
    assert metrics["rollout/normalized_return"] > 0.3  # random is 0: it steers
    assert metrics["shift/on_policy_nll"] > metrics["shift/train_nll"]
    policy = api.load_policy(result.run_dir)
    obs, _ = policy.make_env().reset(seed=3)
    assert set(obs) == {"state", "pixels"}
    assert policy.act(obs).shape == (1,)
    again = api.evaluate(policy, episodes=4)  # the run's own evaluation seeds and envs
    assert again["rollout/return"] == pytest.approx(metrics["rollout/return"], rel=1e-4)


@pytest.mark.parametrize("mitigation", ["mitigation=dagger", "mitigation=dart"])
def test_dagger_and_fitted_dart_run_unchanged_on_a_learner_that_sees_pixels(make_cfg, mitigation):
    """The learner drives (DAgger) or is measured on held-out frames (fitted DART); the expert
    labels from the state. Each later round adds labelled states with their frames."""
    metrics = run(
        make_cfg(
            *PIXELS,
            mitigation,
            "mitigation.rounds=2" if "dagger" in mitigation else "mitigation.fit=true",
            "data.episodes=3",
            "trainer.max_steps=60",
            "rollout.episodes=2",
            "rollout.num_envs=2",
            *TINY,
        )
    )
    assert metrics["expert/labels"] > 2 * 500  # more than the demonstrations' pairs
    assert np.isfinite(metrics["shift/on_policy_nll"])


@pytest.fixture(scope="module")
def three_cameras():
    """Two expert episodes on lane with all three cameras: (env, collector, demos)."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[*PIXELS, "env.pixels.cameras=[center,left,right]"])
    envs = make_envs(cfg.env, 2, images=True)
    collector = Collector(StanleyExpert(env=envs[0]), envs, first_seed=0, progress=False)
    return envs[0], collector, collector.expert_episodes(2)


@pytest.mark.parametrize("method", ["viewpoint", "rerender"])
def test_image_augmentation_adds_moved_views_with_steer_back_labels(three_cameras, method):
    env, collector, demos = three_cameras
    augmented = Augment(env=env, method=method, copies=2).training_data(demos, collector)
    n = len(demos)
    assert len(augmented) == 3 * n and set(augmented.frames) == set(demos.frames)
    copy = augmented.episodes(demos.num_episodes, 2 * demos.num_episodes)
    assert copy.frames["pixels"].shape == demos.frames["pixels"].shape
    assert not np.array_equal(copy.frames["pixels"], demos.frames["pixels"])  # moved views
    moved = copy.obs[:, :2] - demos.obs[:, :2]  # d and psi of the moved car
    assert moved.std(axis=0) == pytest.approx(2 * demos.obs[:, :2].std(axis=0), rel=0.2)
    expert = collector.label(copy.obs)  # what the expert would do where the car was moved to
    assert np.corrcoef(copy.actions[:, 0], expert[:, 0])[0, 1] > 0.99
    if method == "rerender":  # exact renders of the moved car, labelled by the expert itself
        np.testing.assert_array_equal(copy.actions, expert)


def test_side_cameras_train_the_forward_learner_with_labels_that_steer_back(three_cameras):
    env, collector, demos = three_cameras
    augmented = Augment(env=env, method="cameras").training_data(demos, collector)
    assert set(augmented.frames) == {"pixels"}  # the learner's camera only
    left = augmented.episodes(demos.num_episodes, 2 * demos.num_episodes)
    right = augmented.episodes(2 * demos.num_episodes, 3 * demos.num_episodes)
    np.testing.assert_array_equal(left.frames["pixels"], demos.frames["pixels/left"])
    # Seen from 0.7 m left of the car, the road says: steer right (actions are + left).
    assert (left.actions - demos.actions).mean() < -0.05
    assert (right.actions - demos.actions).mean() > 0.05


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["env=lane", "mitigation=augment", "mitigation.method=viewpoint"], "sees none"),
        (["mitigation=augment", "mitigation.method=domain", *PIXELS], "perturbs states"),
        (["mitigation=augment", "mitigation.method=cameras", *PIXELS], "env.pixels.cameras"),
    ],
)
def test_augmentation_methods_that_do_not_fit_the_learner_stop_before_any_work(
    make_cfg, tmp_path, overrides, words
):
    with pytest.raises(BCXError, match=re.escape(words)):
        run(make_cfg(*overrides, *TINY))
    assert not (tmp_path / "run").exists()


def test_a_mujoco_env_renders_pixels_only_for_a_learner_that_sees_them(make_cfg):
    """A short smoke run: software EGL is slow here (about 750 frames/s at 64x64)."""
    cfg = make_cfg(
        "env=inverted_pendulum",
        "obs.keys=[pixels,state]",
        "encoder=conv",
        "env.pixels.render={width: 24, height: 24}",
        "data.episodes=2",
        "trainer.max_steps=20",
        "rollout.episodes=1",
        "rollout.num_envs=1",
        "data.batch_size=32",
        *TINY,
    )
    assert make_envs(cfg.env, 1)[0].render_mode is None  # a state learner: nothing rendered
    space = make_envs(cfg.env, 1, images=True)[0].observation_space
    assert space["pixels"].shape == (24, 24, 3) and space["pixels"].dtype == np.uint8
    metrics = run(cfg)
    assert metrics["expert/return"] == 1000.0  # the expert balances from the state
    assert np.isfinite(metrics["shift/on_policy_nll"])
