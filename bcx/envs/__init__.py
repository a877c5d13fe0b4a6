"""bcx's own gymnasium environments; importing this package registers them (lazily, cheaply).

Each env is one module here; its registration names an entry-point string, so the module itself is
imported only when ``gym.make`` builds the env. A user's own env registers itself the same way in
a module of the user's package, which the env's config names as ``env.module``
(``import_env_module``; docs/extending.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from bcx.errors import BCXError


def state_space(env: gym.Env) -> gym.spaces.Space:
    """The space of the env's state vector: its observation space, or a Dict observation's
    ``state`` (a Dict env adds camera images beside it)."""
    space = env.observation_space
    return space["state"] if isinstance(space, gym.spaces.Dict) else space


def learner_features(env: gym.Env) -> int:
    """How many leading state features a learner may read: all but the trailing ones the env
    declares privileged (``privileged_features``: hidden state only the expert reads)."""
    (width,) = state_space(env).shape
    return width - int(getattr(env.unwrapped, "privileged_features", 0))


def import_env_module(env: Mapping[str, Any]) -> None:
    """Import the module an env config names as ``env.module`` (a user's module that registers
    ``env.id`` with gymnasium, as this package registers bcx's), so that ``gym.make(env.id)``
    finds it; nothing without one. BCXError naming the module when it cannot be imported."""
    name = env.get("module")
    if not name:
        return
    try:
        importlib.import_module(name)
    except Exception as err:  # a missing module, or one that fails while importing
        reason = (str(err).splitlines() or [""])[0]
        raise BCXError(
            f"env.module={name} cannot be imported ({type(err).__name__}: {reason}); it must "
            f"name a module on the Python path that registers env.id={env.get('id')} (pip "
            "install its package, or put the folder that holds it on PYTHONPATH)."
        ) from err


def _register(env_id: str, entry_point: str, max_episode_steps: int) -> None:
    """Register once: importing this package again (or reloading it) must not fail or warn."""
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)


# 500 steps of dt = 0.05 s: 25 s of driving, 150-350 m of road at 6-14 m/s.
_register("bcx/Lane-v0", "bcx.envs.lane:LaneEnv", max_episode_steps=500)
# 200 steps of dt = 0.05 s: 10 s, about 2.7 times what the expert needs to go around and arrive.
_register("bcx/Fork-v0", "bcx.envs.fork:ForkEnv", max_episode_steps=200)
