"""Plain behavioral cloning: the expert's demonstrations, unchanged, one fit."""

from __future__ import annotations

import gymnasium as gym

from bcx.mitigations.base import Mitigation


class NoMitigation(Mitigation):
    """Trains once on the collected demonstrations as they are."""

    def __init__(self, *, env: gym.Env) -> None:
        del env  # plain BC needs nothing from the env
