"""Collection never takes an evaluation seed: the disjoint-seed check covers every episode a
mitigation's later rounds may collect (DAgger rounds, fitted-DART iterations), before any work."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from bcx.config import validate
from bcx.data.demos import Demonstrations
from bcx.errors import BCXError
from bcx.mitigations.dagger import Dagger
from bcx.mitigations.dart import Dart
from bcx.pipeline import run
from tests.conftest import TINY, run_cli

# The catalogue's B: 3 episodes (2 training, 1 held out) on seeds 0, 1, 2.
B = ("env=inverted_pendulum", "data.episodes=3", "trainer.max_steps=100", "rollout.episodes=2")


def test_dagger_on_evaluation_seeds_fails_on_the_command_line(tmp_path):
    # Rounds 1-2 collect 2 episodes each on seeds 3..6; evaluation is on seeds 4, 5.
    args = ("mitigation=dagger", "mitigation.rounds=3", "rollout.seed=4")
    result = run_cli(*B, *args, *TINY, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("bcx: error:")]
    assert len(errors) == 1, result.stderr
    for text in ("rollout.seed", "[4, 6)", "collection seeds [0, 7)", "rollout.seed >= 7"):
        assert text in errors[0], errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs" / "cache").exists()  # stopped before collecting anything
    assert not list(tmp_path.rglob("metrics.json"))


def test_fitted_dart_on_evaluation_seeds_fails_before_any_work(make_cfg, tmp_path):
    # Iteration 1 collects as many episodes as the 2 training ones, on seeds 3, 4.
    cfg = make_cfg(*B, "mitigation=dart", "mitigation.fit=true", "rollout.seed=3", *TINY)
    with pytest.raises(BCXError, match=r"collection seeds \[0, 5\).*rollout\.seed >= 5"):
        run(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("overrides", "end"),
    [
        (("mitigation=none",), 3),
        (("mitigation=augment",), 3),  # noisy labels, no episodes
        (("mitigation=dagger", "mitigation.rounds=3"), 7),
        (("mitigation=dagger", "mitigation.rounds=4", "mitigation.episodes_per_round=3"), 12),
        (("mitigation=dart",), 3),  # fixed noise: the initial episodes only
        (("mitigation=dart", "mitigation.fit=true", "mitigation.iterations=3"), 7),  # 3 + 2 + 2
        (("mitigation=dart", "mitigation.fit=true", "mitigation.episodes_per_iteration=5"), 8),
    ],
)
def test_the_check_covers_every_collection_seed(make_cfg, overrides, end):
    validate(make_cfg(*B, *overrides, f"rollout.seed={end}"))
    with pytest.raises(BCXError, match=rf"collection seeds \[0, {end}\)"):
        validate(make_cfg(*B, *overrides, f"rollout.seed={end - 1}"))
    # Each suggestion it makes is accepted.
    validate(make_cfg(*B, *overrides, f"rollout.seed={end - 1}", f"data.seed={end + 1}"))
    validate(make_cfg(*B, *overrides, "rollout.seed=100", f"data.seed={100 - end}"))


class CountingCollector:
    """What next_round asks of a Collector, handing out one-step episodes and counting seeds."""

    horizon = 1  # frames a learner sees (fitted DART measures the learner on held-out frames)

    def __init__(self) -> None:
        self.taken = 0

    def mixture(self, learner, beta, seed):
        return learner

    def noisy_expert(self, cov, seed):
        return None

    def episodes(self, driver, count, *, kind="episodes") -> Demonstrations:
        self.taken += count
        return one_step_episodes(count)


def one_step_episodes(count: int) -> Demonstrations:
    return Demonstrations(
        obs=np.zeros((count, 1), np.float32),
        actions=np.zeros((count, 1), np.float32),
        episode_lengths=np.ones(count, np.int64),
        returns=np.zeros(count),
    )


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (Dagger, {"rounds": 4, "episodes_per_round": 3}),
        (Dart, {"fit": True, "iterations": 4}),
        (Dart, {"fit": True, "iterations": 3, "episodes_per_iteration": 2}),
        (Dart, {"fit": False, "iterations": 3}),
    ],
)
def test_collection_episodes_is_what_the_rounds_collect(cls, params):
    env = SimpleNamespace(action_space=gym.spaces.Box(-1.0, 1.0, (1,)))
    mitigation, collector = cls(env=env, **params), CountingCollector()
    train, held_out = one_step_episodes(3), one_step_episodes(2)
    learner = lambda obs: np.zeros((len(obs), 1))  # noqa: E731
    train = mitigation.training_data(train, collector)  # as the app does before the first fit
    for index in range(1, mitigation.rounds):
        train = mitigation.next_round(index, train, held_out, learner, collector)
    assert collector.taken == cls.collection_episodes(params, train_episodes=3)
