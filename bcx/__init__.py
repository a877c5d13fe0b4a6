"""bcx: behavioral cloning experiments that measure distribution shift.

The Python API (docs/api.md)::

    import bcx
    cfg = bcx.compose(["env=lane", "policy=gmm", "data.episodes=3"])
    result = bcx.run(cfg)
    policy = bcx.load_policy(result.run_dir)
    metrics = bcx.evaluate(policy, episodes=8)

``import bcx`` is cheap: the API's names load torch, Hydra and Lightning on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bcx.api import LoadedPolicy, Result, compose, evaluate, load_policy, run
    from bcx.errors import BCXError

__all__ = ["BCXError", "LoadedPolicy", "Result", "compose", "evaluate", "load_policy", "run"]

# name: the module that defines it, imported on first access (PEP 562)
_LAZY = {name: "bcx.errors" if name == "BCXError" else "bcx.api" for name in __all__}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'bcx' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
