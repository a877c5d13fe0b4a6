"""bcx's own gymnasium environments; importing this package registers them (lazily, cheaply).

Each env is one module here; its registration names an entry-point string, so the module itself is
imported only when ``gym.make`` builds the env.
"""

from __future__ import annotations

import gymnasium as gym


def learner_features(env: gym.Env) -> int:
    """How many leading observation features a learner may read: all but the trailing ones the
    env declares privileged (``privileged_features``: hidden state only the expert reads)."""
    (width,) = env.observation_space.shape
    return width - int(getattr(env.unwrapped, "privileged_features", 0))


def _register(env_id: str, entry_point: str, max_episode_steps: int) -> None:
    """Register once: importing this package again (or reloading it) must not fail or warn."""
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)


# 500 steps of dt = 0.05 s: 25 s of driving, 150-350 m of road at 6-14 m/s.
_register("bcx/Lane-v0", "bcx.envs.lane:LaneEnv", max_episode_steps=500)
# 200 steps of dt = 0.05 s: 10 s, about 2.7 times what the expert needs to go around and arrive.
_register("bcx/Fork-v0", "bcx.envs.fork:ForkEnv", max_episode_steps=200)
