"""Observation encoders: one file per family, all behind ``Encoder`` (the ``encoder`` config group).

An encoder turns what the learner sees into one feature vector; the policy's MLP trunk
(``model.hidden``) and its head come after it, the same for every encoder.
"""

from bcx.encoders.base import Encoder

__all__ = ["Encoder"]
