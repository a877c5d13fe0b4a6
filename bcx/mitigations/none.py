"""Plain behavioral cloning: the expert's demonstrations, unchanged."""

from __future__ import annotations

from bcx.data.demos import Demonstrations


class NoMitigation:
    """Trains on the collected demonstrations as they are."""

    def training_data(self, demos: Demonstrations) -> Demonstrations:
        """The demonstrations the learner is fit on: (N, ...) arrays in, the same out."""
        return demos
