"""The rollout callback: how much worse is the policy on the states it visits itself?

Every ``every_n_steps`` training steps and at the last step, the current policy runs in the env
on evaluation seeds (disjoint from the collection seeds) and the expert labels every visited
state. The policy's loss is then measured with the same loss on three populations of states:

- ``train``: a fixed subsample of the states it is trained on;
- ``dataset``: held-out demonstration episodes (the expert's own states, never trained on);
- ``on_policy``: the states the policy visited itself.

``shift/gap`` (on-policy minus train) is the lecture's distribution-shift gap; it splits into
``shift/generalization_gap`` (held-out minus train: new expert states) and ``shift/heldout_gap``
(on-policy minus held-out: the states only the learner reaches). Every figure comes as a mean
over states and as a per-state median (``*_median``); a handful of states with huge losses move
the mean, never the median, so readings use the medians.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import pytorch_lightning as pl
import torch

from bcx.data.demos import Demonstrations
from bcx.data.tensors import observation_tensors
from bcx.experts.base import Expert
from bcx.model.module import BCModule
from bcx.progress import episode_bar
from bcx.rollout import PolicyFn, on_state, random_policy, rollout
from bcx.types import OUTCOMES, Trajectory

CURVE_BINS = 10  # timestep bins of the compounding-error curve
TRAIN_SAMPLE = 2000  # training states measured per measurement: enough for a stable median
TRAIN_SAMPLE_SEED = 0  # which training states: the same ones at every measurement of a run
CHUNK = 256  # states per forward pass when measuring: bounds the memory images take
POPULATIONS = ("train", "dataset", "on_policy")
GAPS = {  # name: (minuend, subtrahend) population
    "gap": ("on_policy", "train"),
    "generalization_gap": ("dataset", "train"),
    "heldout_gap": ("on_policy", "dataset"),
}


class ShiftCallback(pl.Callback):
    """Logs the ``shift/*``, ``rollout/*`` and ``expert/*`` metrics (docs/concepts.md, Metrics)."""

    def __init__(
        self,
        *,
        envs: Sequence[gym.Env],
        expert: Expert,
        seeds: Sequence[int],
        every_n_steps: int,
        held_out: Demonstrations,
        training: Demonstrations,
        deterministic: bool = True,
        progress: bool = True,
    ) -> None:
        """held_out: the demonstration episodes never trained on; training: the data of the
        (first) fit, see ``set_training_data``; progress: show a bar while evaluation episodes
        run, when the console is a terminal."""
        self.envs, self.expert, self.seeds = envs, expert, list(seeds)
        self.progress = progress
        self.every_n_steps = every_n_steps
        self.held_out = held_out
        self.set_training_data(training)
        self.expert_labels = len(held_out)  # the trainer sets the run's count before each fit
        self.deterministic = deterministic
        self.latest: dict[str, float] = {}
        self.curve: dict[str, list[float]] = {}  # compounding error at the last measurement
        self.seconds = 0.0  # wall time spent measuring, so reports can split it from training
        self.train_states_seconds = 0.0  # of which on the training states (make bench's overhead)
        self._baselines: dict[str, float] | None = None
        self._expert_runs: list[Trajectory] = []

    def baselines(self) -> dict[str, float]:
        """Expert and uniform-random returns on the evaluation seeds, computed once."""
        if self._baselines is None:
            expert_runs = self._expert_runs = self.rollout(on_state(self.expert), "expert baseline")
            random_runs = self.rollout(
                random_policy(self.envs[0].action_space, 0), "random baseline"
            )
            self._baselines = {
                "expert/return": _mean_return(expert_runs),
                "random/return": _mean_return(random_runs),
            }
        return self._baselines

    def set_training_data(self, train: Demonstrations) -> None:
        """The training states to measure from now on: at most TRAIN_SAMPLE of ``train``'s
        pairs, drawn with a fixed seed (a multi-round run calls this before every later fit, as
        its training data grows)."""
        rows = np.arange(len(train))
        if len(rows) > TRAIN_SAMPLE:
            rng = np.random.default_rng(TRAIN_SAMPLE_SEED)
            rows = np.sort(rng.choice(rows, size=TRAIN_SAMPLE, replace=False))
        self.training_states, self.training_rows = train, rows

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: BCModule, *args) -> None:
        step = trainer.global_step
        last = step >= trainer.max_steps
        if step % self.every_n_steps == 0 or last:
            started = time.perf_counter()
            self.latest = self.measure(pl_module, with_curve=last)
            self.seconds += time.perf_counter() - started
            # Straight to the loggers so every measurement is kept whatever log_every_n_steps is;
            # pl_module.log(logger=False) also makes them visible to checkpoint monitors/sweepers.
            for logger in trainer.loggers:
                logger.log_metrics(self.latest, step=step)
            pl_module.log_dict(self.latest, logger=False)

    def measure(self, module: BCModule, with_curve: bool = False) -> dict[str, float]:
        """Roll out the current policy, label its states, and compare losses; with_curve also
        computes the compounding-error curve (``self.curve``)."""
        device = module.device
        was_training = module.training
        module.eval()
        runs = self.rollout(
            module.policy.numpy_fn(self.deterministic), "rollout", module.policy.horizon
        )
        module.train(was_training)
        visited = Demonstrations.from_trajectories(runs)
        populations = {
            "train": (self.training_states, self.training_rows),
            "dataset": (self.held_out, None),
            "on_policy": (visited.relabel(self.expert(visited.obs)), None),
        }
        per_state = {}
        for name, (states, rows) in populations.items():
            started = time.perf_counter()
            per_state[name] = per_state_losses(module, states, device, rows)
            if name == "train":
                self.train_states_seconds += time.perf_counter() - started
        shift = shift_metrics(per_state)
        if with_curve:
            self.baselines()
            scale = np.maximum(self.held_out.obs.std(axis=0), 1e-6)
            on_policy_nll = per_state["on_policy"]["nll"].cpu().numpy()
            self.curve = compounding_error(runs, self._expert_runs, on_policy_nll, scale)
            self.curve["train_nll_median"] = shift["shift/train_nll_median"]
        return {
            **shift,
            **self.rollout_metrics(runs),
            "expert/labels": float(self.expert_labels),
        }

    def rollout(self, policy: PolicyFn, label: str, horizon: int = 1) -> list[Trajectory]:
        """One episode per evaluation seed, under a bar "<label>: <n> episodes"; the policy sees
        stacks of ``horizon`` frames."""
        count = len(self.seeds)
        with episode_bar(f"{label}: {count} episodes", count, self.progress) as on_step:
            return rollout(policy, self.envs, self.seeds, on_step, horizon)

    def rollout_metrics(self, runs: list[Trajectory]) -> dict[str, float]:
        """rollout/* (return, its spread, length, normalized return, outcomes) and the expert /
        random baselines for ``runs`` on this callback's evaluation seeds."""
        returns = np.array([t.episode_return for t in runs])
        base = self.baselines()
        span = base["expert/return"] - base["random/return"]
        metrics = {
            "rollout/return": float(returns.mean()),
            "rollout/return_std": float(returns.std()),
            "rollout/length": float(np.mean([len(t) for t in runs])),
            "rollout/normalized_return": float((returns.mean() - base["random/return"]) / span)
            if span != 0
            else float("nan"),
            **base,
        }
        for outcome in OUTCOMES:
            if all(outcome in t.outcomes for t in runs):
                metrics[f"rollout/{outcome}"] = float(np.mean([t.outcomes[outcome] for t in runs]))
        return metrics


def shift_metrics(per_state: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
    """The ``shift/*`` metrics from per-state losses of each population.

    per_state: {population: {"nll": (N,), "mse": (N,)}} for every name in POPULATIONS. Returns
    ``shift/<population>_{nll,mse}`` (means over states), ``shift/<population>_nll_median``, and
    every gap of GAPS both from the means (``shift/<gap>``) and from the medians
    (``shift/<gap>_median``).
    """
    metrics: dict[str, float] = {}
    for population in POPULATIONS:
        values = per_state[population]
        metrics[f"shift/{population}_nll"] = values["nll"].mean().item()
        metrics[f"shift/{population}_nll_median"] = float(np.median(values["nll"].cpu().numpy()))
        metrics[f"shift/{population}_mse"] = values["mse"].mean().item()
    for gap, (high, low) in GAPS.items():
        for suffix in ("", "_median"):
            metrics[f"shift/{gap}{suffix}"] = (
                metrics[f"shift/{high}_nll{suffix}"] - metrics[f"shift/{low}_nll{suffix}"]
            )
    return metrics


def compounding_error(
    learner: list[Trajectory],
    expert: list[Trajectory],
    per_state_nll: np.ndarray,
    scale: np.ndarray,
    bins: int = CURVE_BINS,
) -> dict[str, list[float]]:
    """Distance between the learner's and the expert's state trajectories from the same seeds
    (averaged in ``bins`` timestep bins), and the median of the learner's per-state on-policy NLL
    in each bin, as functions of the timestep.

    Distance at step t: RMS over features of the state difference in units of each feature's
    held-out std (``scale``). An episode that ended holds its last state, so a learner that
    crashed early keeps its distance instead of dropping out of the average. per_state_nll (N,)
    lists the NLL of every learner state, episodes in order.
    """
    horizon = max(max(len(t) for t in learner), max(len(t) for t in expert))
    distance = np.stack(
        [
            _state_distance(a.obs, b.obs, horizon, scale)
            for a, b in zip(learner, expert, strict=True)
        ]
    ).mean(axis=0)  # (horizon,)
    nll = np.full((len(learner), horizon), np.nan)
    start = 0
    for row, trajectory in zip(nll, learner, strict=True):
        row[: len(trajectory)] = per_state_nll[start : start + len(trajectory)]
        start += len(trajectory)
    edges = np.linspace(0, horizon, bins + 1).round().astype(int)
    spans = [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin where every learner had ended
        return {
            "timestep": [float((s.start + s.stop - 1) / 2) for s in spans],
            "state_distance": [float(distance[s].mean()) for s in spans],
            "on_policy_nll_median": [float(np.nanmedian(nll[:, s])) for s in spans],
        }


def _state_distance(a: np.ndarray, b: np.ndarray, horizon: int, scale: np.ndarray) -> np.ndarray:
    """(horizon,) RMS scaled distance between two state sequences, each padded with its last."""
    a = np.concatenate([a, np.repeat(a[-1:], horizon - len(a), axis=0)])
    b = np.concatenate([b, np.repeat(b[-1:], horizon - len(b), axis=0)])
    return np.sqrt((((a - b) / scale) ** 2).mean(axis=1))


def _mean_return(runs: list[Trajectory]) -> float:
    return float(np.mean([t.episode_return for t in runs]))


def per_state_losses(
    module: BCModule, states: Demonstrations, device: torch.device, rows: np.ndarray | None = None
) -> dict[str, torch.Tensor]:
    """``module.per_state`` on the labelled states at ``rows`` (all by default), CHUNK at a
    time, each seeing the frames the policy reads (stacked within its episode): {"nll", "mse"}
    (N,)."""
    key, horizon = module.policy.image_key, module.policy.horizon
    rows = np.arange(len(states)) if rows is None else rows
    parts = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        frames = {key: states.stacked_frames(key, horizon, chunk)} if key is not None else {}
        obs = observation_tensors(states.obs[chunk], frames, device)
        labels = torch.as_tensor(states.actions[chunk], dtype=torch.float32, device=device)
        parts.append(module.per_state(obs, labels))
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
