"""LQR expert that balances MuJoCo pendulums around upright (qpos = qvel = 0, ctrl = 0).

At construction one whole env step is linearized by central finite differences on a scratch
``MjData`` (``mjd_transitionFD`` refuses the RK4 integrator these envs use), giving
``x' = A x + B u`` with ``x = (qpos, qvel)`` (nx = nq + nv) and ``u = ctrl`` (nu). The discrete
Riccati equation is solved by fixed-point iteration for the gain ``K`` (nu, nx); the expert acts
``clip(-K x)`` with ``x`` recovered from the observation by the env's layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import gymnasium as gym
import mujoco
import numpy as np

from bcx.errors import BCXError
from bcx.experts.base import Expert, box, check_matches_env


class _Layout(NamedTuple):
    """How an observation encodes (qpos, qvel): its length and the batched inverse map."""

    obs_dim: Callable[[int, int], int]  # (nq, nv) -> obs_dim
    state: Callable[[np.ndarray, int, int], np.ndarray]  # obs (B, obs_dim), nq, nv -> x (B, nx)


def _cart_sincos_state(obs: np.ndarray, nq: int, nv: int) -> np.ndarray:
    """InvertedDoublePendulum v5: [qpos[0], sin(qpos[1:]), cos(qpos[1:]), qvel, ...] -> x."""
    angles = np.arctan2(obs[:, 1:nq], obs[:, nq : 2 * nq - 1])
    qvel = obs[:, 2 * nq - 1 : 2 * nq - 1 + nv]
    return np.concatenate([obs[:, :1], angles, qvel], axis=1)


LAYOUTS: dict[str, _Layout] = {
    # InvertedPendulum v5: obs = [qpos, qvel].
    "qpos_qvel": _Layout(lambda nq, nv: nq + nv, lambda obs, nq, nv: obs[:, : nq + nv]),
    # InvertedDoublePendulum v5: the trailing entry is the cart's clipped constraint force,
    # unused here; the clipped qvel (|v| <= 10) only saturates far from upright.
    "cart_sincos": _Layout(lambda nq, nv: 1 + 2 * (nq - 1) + nv + 1, _cart_sincos_state),
}


def _step_state(
    model: mujoco.MjModel, data: mujoco.MjData, x: np.ndarray, u: np.ndarray, frame_skip: int
) -> np.ndarray:
    """One env step from state x (nx,) under ctrl u (nu,) on a scratch MjData -> x' (nx,)."""
    mujoco.mj_resetData(model, data)  # same warm start every call, so differences are clean
    data.qpos[:], data.qvel[:] = x[: model.nq], x[model.nq :]
    data.ctrl[:] = u
    mujoco.mj_step(model, data, nstep=frame_skip)
    return np.concatenate([data.qpos, data.qvel])


def linearize_step(env: gym.Env, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference Jacobians of one env step at upright: A (nx, nx), B (nx, nu)."""
    model, frame_skip = env.unwrapped.model, env.unwrapped.frame_skip
    data = mujoco.MjData(model)  # never touch the env's own MjData
    nx, nu = model.nq + model.nv, model.nu

    def column(dx: np.ndarray, du: np.ndarray) -> np.ndarray:
        plus = _step_state(model, data, dx, du, frame_skip)
        minus = _step_state(model, data, -dx, -du, frame_skip)
        return (plus - minus) / (2 * eps)

    eye_x, eye_u = eps * np.eye(nx), eps * np.eye(nu)
    a = np.stack([column(eye_x[i], np.zeros(nu)) for i in range(nx)], axis=1)
    b = np.stack([column(np.zeros(nx), eye_u[j]) for j in range(nu)], axis=1)
    return a, b


def dlqr_gain(
    a: np.ndarray, b: np.ndarray, q: np.ndarray, r: np.ndarray, tol: float = 1e-10
) -> np.ndarray:
    """Gain K (nu, nx) of u = -K x from iterating the discrete Riccati equation to a fixed point.

    a (nx, nx), b (nx, nu), q (nx, nx), r (nu, nu).
    """
    p = q.copy()
    for _ in range(100_000):
        k = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)
        p_next = q + a.T @ p @ (a - b @ k)
        if np.max(np.abs(p_next - p)) <= tol * max(1.0, np.max(np.abs(p))):
            return np.linalg.solve(r + b.T @ p_next @ b, b.T @ p_next @ a)
        p = p_next
    raise BCXError("expert 'lqr': the Riccati iteration did not converge; check env.lqr costs.")


def _check_tuning(
    state_cost: Sequence[float] | None, action_cost: float | None, observation: str | None
) -> None:
    """Fail with the env keys to set when the env config carries no (or an unknown) tuning."""
    allowed = ", ".join(LAYOUTS)
    if state_cost is None or action_cost is None or observation is None:
        raise BCXError(
            "expert 'lqr' has no tuning for this env: set env.lqr.state_cost (diag of Q over "
            "(qpos, qvel)), env.lqr.action_cost (R, a scalar) and env.lqr.observation (one of: "
            f"{allowed}) in the env's yaml, or choose another expert."
        )
    if observation not in LAYOUTS:
        raise BCXError(
            f"expert 'lqr' got env.lqr.observation={observation!r}; allowed values: {allowed}."
        )


class LQRExpert(Expert):
    """Discrete-time LQR around upright for InvertedPendulum-v5 / InvertedDoublePendulum-v5."""

    def __init__(
        self,
        *,
        env: gym.Env,
        state_cost: Sequence[float] | None = None,
        action_cost: float | None = None,
        observation: str | None = None,
    ) -> None:
        """Linearize ``env``'s step and solve for K; the tuning comes from the env config.

        state_cost: diag of Q, length nq + nv. action_cost: R = action_cost * I (nu, nu).
        observation: a key of ``LAYOUTS``.
        """
        _check_tuning(state_cost, action_cost, observation)
        model = getattr(env.unwrapped, "model", None)
        if not isinstance(model, mujoco.MjModel):
            raise BCXError(
                f"expert 'lqr' needs a MuJoCo env, but got {type(env.unwrapped).__name__}."
            )
        self._nq, self._nv = model.nq, model.nv
        q_diag = np.asarray(list(state_cost), dtype=np.float64)
        if q_diag.shape != (model.nq + model.nv,):
            raise BCXError(
                f"expert 'lqr' needs env.lqr.state_cost of length nq + nv = "
                f"{model.nq + model.nv}, but got {len(q_diag)}."
            )
        self._layout = LAYOUTS[observation]
        # The observation the layout reads (qpos, qvel) from; the raw actuator controls,
        # within the model's control ranges.
        self.observation_space = box((self._layout.obs_dim(model.nq, model.nv),))
        ctrl = np.asarray(model.actuator_ctrlrange, dtype=np.float64).reshape(model.nu, 2)
        self.action_space = box((model.nu,), ctrl[:, 0], ctrl[:, 1])
        check_matches_env(self, env, "lqr")
        self.a, self.b = linearize_step(env)
        r = float(action_cost) * np.eye(model.nu)
        self.k = dlqr_gain(self.a, self.b, np.diag(q_diag), r)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions clip(-K x): obs (B, obs_dim) -> (B, nu) float64."""
        x = self._layout.state(np.asarray(obs, dtype=np.float64), self._nq, self._nv)
        # Elementwise product and sum rather than BLAS matmul, whose kernel (and hence the last
        # bit of each label) depends on B: a state gets the same action in any batch.
        u = -(x[:, None, :] * self.k).sum(axis=-1)
        return np.clip(u, self.action_space.low, self.action_space.high)
