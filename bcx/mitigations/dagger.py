"""DAgger (Ross et al. 2011): the learner drives, the expert labels, the data grows.

Round 0 fits on the expert's demonstrations. Each later round rolls out a mixture policy (per step
and env, the expert's action with probability beta_i, the learner's otherwise), the expert labels
every visited state, the new pairs join the data, and the learner is fit again (from its previous
weights with ``warm_start``, else from scratch). ``label_budget`` caps the expert labels of the
whole run, the initial demonstrations included; the last round is cut to fit it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations
from bcx.errors import BCXError
from bcx.mitigations.base import Mitigation, require_int, require_number
from bcx.rollout import PolicyFn

SCHEDULES = ("constant", "linear", "exponential")


def beta_at(schedule: str, beta: float, round_index: int, rounds: int) -> float:
    """beta_i for round i >= 1: constant beta; linear from beta down to beta / (rounds - 1) at
    the last round; exponential beta ** i (Ross et al.'s p^(i-1), counting their i from 2)."""
    if schedule == "constant":
        return beta
    if schedule == "linear":
        return beta * (rounds - round_index) / max(rounds - 1, 1)
    return beta**round_index


class Dagger(Mitigation):
    """Rounds of learner rollouts labelled by the expert, aggregated."""

    def __init__(
        self,
        *,
        env: gym.Env,
        rounds: int = 4,
        episodes_per_round: int = 2,
        beta: float = 0.5,
        schedule: str = "exponential",
        warm_start: bool = False,
        label_budget: int | None = None,
        seed: int = 0,
    ) -> None:
        self.rounds = require_int("rounds", rounds, 1)
        self.episodes_per_round = require_int("episodes_per_round", episodes_per_round, 1)
        self.beta = require_number("beta", beta, 0.0, 1.0)
        if schedule not in SCHEDULES:
            raise BCXError(
                f"mitigation.schedule must be one of {', '.join(SCHEDULES)} (got {schedule!r})."
            )
        self.schedule, self.warm_start, self.seed = schedule, bool(warm_start), seed
        if label_budget is not None:
            require_int("label_budget", label_budget, 1)
        self.label_budget = label_budget

    @classmethod
    def collection_episodes(cls, params: Mapping[str, Any], train_episodes: int) -> int:
        """episodes_per_round in each of rounds - 1 later rounds (a label budget may stop the
        run sooner, never later)."""
        rounds = require_int("rounds", cls.param(params, "rounds"), 1)
        per_round = require_int("episodes_per_round", cls.param(params, "episodes_per_round"), 1)
        return (rounds - 1) * per_round

    def check_budget(self, initial_labels: int) -> None:
        """A budget the initial demonstrations already exhaust leaves no room for any round."""
        if (
            self.label_budget is not None
            and self.rounds > 1
            and self.label_budget <= initial_labels
        ):
            raise BCXError(
                f"mitigation.label_budget={self.label_budget} is smaller than one round: the "
                f"initial demonstrations alone use {initial_labels} expert labels; raise the "
                "budget or lower data.episodes."
            )

    def next_round(
        self,
        round_index: int,
        train: Demonstrations,
        held_out: Demonstrations,
        learner: PolicyFn,
        collector: Collector,
    ) -> Demonstrations | None:
        # Every pair collected so far (training and held-out) cost one expert label.
        room = float("inf") if self.label_budget is None else self.label_budget - len(train)
        room -= len(held_out)
        if room <= 0:
            return None
        beta = beta_at(self.schedule, self.beta, round_index, self.rounds)
        driver = collector.mixture(learner, beta, self.seed + round_index)
        kind = f"DAgger episodes (round {round_index})"
        new = collector.episodes(driver, self.episodes_per_round, kind=kind)
        return train.concat(new.first_pairs(int(min(room, len(new)))))
