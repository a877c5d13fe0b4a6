"""Run a batched policy in several envs at once: one episode per seed, no Lightning, no torch.

Envs step one after another in this process (on 2 cores a synchronous loop beats subprocess
vector envs for every MuJoCo task), while the policy sees all running envs as one batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from bcx.types import OUTCOMES, STATE, Observation, Trajectory, frames_of, stack, state_of

PolicyFn = Callable[[Observation], np.ndarray]
"""Batched policy: obs (B, obs_dim), or a Dict env's batch of them by key -> actions (B, act_dim)
in env units."""

StepHook = Callable[[int, int], None]
"""Progress hook: (episodes that just ended, env steps just taken), once per batched step."""


def on_state(expert: Callable[[np.ndarray], np.ndarray]) -> PolicyFn:
    """A state-reading function (an expert: states (B, obs_dim) -> actions) as a driver of any
    env: it reads the state of whatever the env observes (a Dict env's ``state``)."""
    return lambda obs: expert(state_of(obs))


def rollout(
    policy: PolicyFn,
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    on_step: StepHook | None = None,
    horizon: int = 1,
) -> list[Trajectory]:
    """One episode per seed, ``len(envs)`` at a time; trajectories come back in seed order.
    ``on_step`` hears of every batched step, for a progress bar (``bcx.progress``). horizon:
    the policy sees each image key as the last ``horizon`` frames (B, horizon, H, W, C), oldest
    first, padded with the episode's first frame (``FrameWindow``); trajectories keep one
    frame per step."""
    trajectories: list[Trajectory] = []
    for start in range(0, len(seeds), len(envs)):
        wave = seeds[start : start + len(envs)]
        trajectories += _run_wave(policy, envs[: len(wave)], wave, on_step, horizon)
    return trajectories


class FrameWindow:
    """One env's last ``horizon`` images of each key, oldest first; the episode's first frame
    fills the window at the start (the padding training data gets, ``stack_index``)."""

    def __init__(self, horizon: int, first: Observation) -> None:
        self.frames = {k: deque([v] * horizon, maxlen=horizon) for k, v in frames_of(first).items()}

    def push(self, obs: Observation) -> None:
        for key, window in self.frames.items():
            window.append(obs[key])

    def view(self, obs: Observation) -> Observation:
        """``obs`` with each image replaced by its window (horizon, H, W, C)."""
        return {STATE: state_of(obs), **{k: np.stack(w) for k, w in self.frames.items()}}


def _run_wave(
    policy: PolicyFn,
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    on_step: StepHook | None,
    horizon: int,
) -> list[Trajectory]:
    """Run one episode in each env in lock-step until every one has ended."""
    obs = [env.reset(seed=int(seed))[0] for env, seed in zip(envs, seeds, strict=True)]
    windows = [FrameWindow(horizon, o) for o in obs] if horizon > 1 and frames_of(obs[0]) else None
    steps: list[list[tuple[Observation, np.ndarray, float]]] = [[] for _ in envs]
    outcomes: list[dict[str, bool]] = [{} for _ in envs]
    terminal = [False for _ in envs]
    running = list(range(len(envs)))
    while running:
        seen = [windows[i].view(obs[i]) if windows else obs[i] for i in running]
        actions = policy(stack(seen))
        still_running = []
        for i, action in zip(running, actions, strict=True):
            next_obs, reward, terminated, truncated, info = envs[i].step(action)
            steps[i].append((obs[i], action, float(reward)))
            outcomes[i] = {k: bool(info[k]) for k in OUTCOMES if k in info}
            obs[i], terminal[i] = next_obs, bool(terminated)
            if windows:
                windows[i].push(next_obs)
            if not (terminated or truncated):
                still_running.append(i)
        if on_step is not None:  # once per batched step, never per env: free when no bar
            on_step(len(running) - len(still_running), len(running))
        running = still_running
    return [_to_trajectory(*parts) for parts in zip(steps, outcomes, obs, terminal, strict=True)]


def _to_trajectory(
    steps: list[tuple[Observation, np.ndarray, float]],
    outcomes: dict[str, bool],
    final_obs: Observation,
    terminated: bool,
) -> Trajectory:
    obs, actions, rewards = zip(*steps, strict=True)
    batch = stack(obs)
    return Trajectory(
        obs=np.asarray(state_of(batch), dtype=np.float32),
        actions=np.asarray(actions, dtype=np.float32),
        rewards=np.asarray(rewards, dtype=np.float64),
        outcomes=outcomes,
        final_obs=np.asarray(state_of(final_obs), dtype=np.float32),
        terminated=terminated,
        frames=frames_of(batch),
    )


def random_policy(action_space: gym.spaces.Box, seed: int) -> PolicyFn:
    """Uniform random actions from a seeded generator: the 'random' end of normalized return."""
    rng = np.random.default_rng(seed)
    low, high = action_space.low, action_space.high
    return lambda obs: rng.uniform(low, high, size=(len(state_of(obs)), len(low)))
