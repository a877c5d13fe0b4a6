"""The contract of a distribution-shift mitigation: how training data is gathered, round by round.

The Hydra app fits the learner ``rounds`` times. Before the first fit the mitigation supplies the
initial demonstrations (``demonstrations``) and may widen the training split
(``training_data``); before each later fit it gathers more data with the learner in hand
(``next_round``). Every label it asks of the expert goes through the ``Collector``, which counts
as one expert label per labelled state.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations
from bcx.errors import BCXError
from bcx.rollout import PolicyFn


class Mitigation:
    """Plain behavioral cloning's behaviour; subclasses override what they change."""

    rounds: int = 1  # fits of the learner; rounds > 1 call next_round in between
    warm_start: bool = True  # later rounds continue from the previous fit's weights

    def collection_key(self) -> dict[str, Any]:
        """What, besides env, expert and seeds, the initial demonstrations depend on (cache key)."""
        return {}

    def demonstrations(self, collector: Collector, episodes: int) -> Demonstrations:
        """The initial data (training and held-out episodes): the expert drives and labels."""
        return collector.expert_episodes(episodes)

    def training_data(self, train: Demonstrations, collector: Collector) -> Demonstrations:
        """What the first fit trains on, given the initial training episodes."""
        return train

    def next_round(
        self,
        round_index: int,
        train: Demonstrations,
        held_out: Demonstrations,
        learner: PolicyFn,
        collector: Collector,
    ) -> Demonstrations | None:
        """The training data of fit ``round_index`` (>= 1), gathered with the current learner;
        None when the expert-label budget is spent and the run should stop."""
        raise NotImplementedError(f"{type(self).__name__} trains in one round")

    def check_budget(self, initial_labels: int) -> None:
        """Raise BCXError when the initial demonstrations leave no room for a later round."""

    @classmethod
    def collection_episodes(cls, params: Mapping[str, Any], train_episodes: int) -> int:
        """The most episodes ``next_round`` may collect in the whole run, beyond the initial
        demonstrations, on the collection seeds that follow theirs (data.seed + data.episodes + j).

        params: the mitigation's keyword arguments (its config node; missing keys take the
        constructor's defaults); train_episodes: the initial training episodes. Computed from
        the config alone, before anything is built, so the seed check can run before any work.
        """
        return 0

    @classmethod
    def param(cls, params: Mapping[str, Any], name: str) -> Any:
        """``params[name]``, or the constructor's default for it."""
        default = inspect.signature(cls).parameters[name].default
        return params.get(name, None if default is inspect.Parameter.empty else default)


def require_int(key: str, value: Any, minimum: int) -> int:
    """``mitigation.<key>`` as an int >= minimum, or a BCXError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BCXError(f"mitigation.{key} must be an integer >= {minimum} (got {value!r}).")
    return value


def require_number(key: str, value: Any, low: float, high: float = float("inf")) -> float:
    """``mitigation.<key>`` as a float in [low, high], or a BCXError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bounds = f"in [{low}, {high}]" if high != float("inf") else f">= {low}"
        raise BCXError(f"mitigation.{key} must be a number {bounds} (got {value!r}).")
    return float(value)
