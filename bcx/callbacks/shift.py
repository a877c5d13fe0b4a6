"""The rollout callback: how much worse is the policy on the states it visits itself?

Every ``every_n_steps`` training steps and at the last step, the current policy runs in the env
on evaluation seeds (disjoint from the collection seeds), the expert labels every visited state,
and the policy's loss there (on-policy) is logged next to its loss on held-out demonstration
states (dataset). Their difference is the distribution-shift gap.
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
from bcx.experts.base import Expert
from bcx.module import BCModule
from bcx.progress import episode_bar
from bcx.rollout import PolicyFn, random_policy, rollout
from bcx.types import OUTCOMES, Trajectory

CURVE_BINS = 10  # timestep bins of the compounding-error curve


class ShiftCallback(pl.Callback):
    """Logs the ``shift/*``, ``rollout/*`` and ``expert/*`` metrics (see the README table)."""

    def __init__(
        self,
        *,
        envs: Sequence[gym.Env],
        expert: Expert,
        seeds: Sequence[int],
        every_n_steps: int,
        held_out: Demonstrations,
        deterministic: bool = True,
        progress: bool = True,
    ) -> None:
        """progress: show a bar while evaluation episodes run, when the console is a terminal."""
        self.envs, self.expert, self.seeds = envs, expert, list(seeds)
        self.progress = progress
        self.every_n_steps = every_n_steps
        self.held_out = held_out
        self.expert_labels = len(held_out)  # the trainer sets the run's count before each fit
        self.deterministic = deterministic
        self.latest: dict[str, float] = {}
        self.curve: dict[str, list[float]] = {}  # compounding error at the last measurement
        self.seconds = 0.0  # wall time spent measuring, so reports can split it from training
        self._baselines: dict[str, float] | None = None
        self._expert_runs: list[Trajectory] = []

    def baselines(self) -> dict[str, float]:
        """Expert and uniform-random returns on the evaluation seeds, computed once."""
        if self._baselines is None:
            expert_runs = self._expert_runs = self._rollout(self.expert, "expert baseline")
            random_runs = self._rollout(
                random_policy(self.envs[0].action_space, 0), "random baseline"
            )
            self._baselines = {
                "expert/return": _mean_return(expert_runs),
                "random/return": _mean_return(random_runs),
            }
        return self._baselines

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
        runs = self._rollout(module.policy.numpy_fn(self.deterministic), "rollout")
        module.train(was_training)
        visited = np.concatenate([t.obs for t in runs])
        labels = self.expert(visited)
        per_state = module.per_state(*_tensors(visited, labels, device))
        on_policy = {name: v.mean().item() for name, v in per_state.items()}
        dataset = module.evaluate(*_tensors(self.held_out.obs, self.held_out.actions, device))
        if with_curve:
            self.baselines()
            scale = np.maximum(self.held_out.obs.std(axis=0), 1e-6)
            per_state_nll = per_state["nll"].cpu().numpy()
            self.curve = compounding_error(runs, self._expert_runs, per_state_nll, scale)
        return {
            **self._shift_metrics(dataset, on_policy),
            **self._rollout_metrics(runs),
            "expert/labels": float(self.expert_labels),
        }

    def _rollout(self, policy: PolicyFn, label: str) -> list[Trajectory]:
        """One episode per evaluation seed, under a bar "<label>: <n> episodes"."""
        count = len(self.seeds)
        with episode_bar(f"{label}: {count} episodes", count, self.progress) as on_step:
            return rollout(policy, self.envs, self.seeds, on_step)

    @staticmethod
    def _shift_metrics(dataset: dict[str, float], on_policy: dict[str, float]) -> dict[str, float]:
        return {
            "shift/dataset_nll": dataset["nll"],
            "shift/on_policy_nll": on_policy["nll"],
            "shift/gap": on_policy["nll"] - dataset["nll"],
            "shift/dataset_mse": dataset["mse"],
            "shift/on_policy_mse": on_policy["mse"],
        }

    def _rollout_metrics(self, runs: list[Trajectory]) -> dict[str, float]:
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


def compounding_error(
    learner: list[Trajectory],
    expert: list[Trajectory],
    per_state_nll: np.ndarray,
    scale: np.ndarray,
    bins: int = CURVE_BINS,
) -> dict[str, list[float]]:
    """Distance between the learner's and the expert's state trajectories from the same seeds,
    and the learner's on-policy NLL, as functions of the timestep, averaged in ``bins`` bins.

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
            "on_policy_nll": [float(np.nanmean(nll[:, s])) for s in spans],
        }


def _state_distance(a: np.ndarray, b: np.ndarray, horizon: int, scale: np.ndarray) -> np.ndarray:
    """(horizon,) RMS scaled distance between two state sequences, each padded with its last."""
    a = np.concatenate([a, np.repeat(a[-1:], horizon - len(a), axis=0)])
    b = np.concatenate([b, np.repeat(b[-1:], horizon - len(b), axis=0)])
    return np.sqrt((((a - b) / scale) ** 2).mean(axis=1))


def _mean_return(runs: list[Trajectory]) -> float:
    return float(np.mean([t.episode_return for t in runs]))


def _tensors(obs: np.ndarray, actions: np.ndarray, device: torch.device):
    return (
        torch.as_tensor(obs, dtype=torch.float32, device=device),
        torch.as_tensor(actions, dtype=torch.float32, device=device),
    )
