"""The run's experiment loggers (csv, tensorboard, wandb, none), built from ``cfg.logger``.

A wandb run is labelled for its dashboard: the jobs of one sweep share a ``group`` (the
experiment's name, or the sweep folder), each job's ``job_type`` is its swept choice without the
seed and its ``name`` the same with the seed, and the resolved config is the run's config. A
single run gets none of these labels. ``logger.group=...`` (job_type, name) overrides bcx's choice.

No logger is built in a folder that holds a finished run, or one another live bcx process runs in
(``check_run_dir``): Lightning's CSV logger would delete that run's ``logs/metrics.csv`` at once,
even if the new run then failed. A run holds its folder's lock (``held_run_dir``) from before its
collection until its results are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from bcx.errors import BCXError
from bcx.io import Held, describe, holder, locked, unwritable
from bcx.results.summary import METRICS_FILE

LABEL_LIMITS = {"group": 128, "job_type": 64, "name": 128}  # characters wandb accepts
SEED_KEYS = {"seed"}  # vary within one swept choice: in the run's name, not its job_type
RUN_LOCK = ".bcx-run.lock"  # in the run folder while a bcx process runs there


def build_logger(cfg: DictConfig) -> Logger | bool:
    """The configured Lightning logger, or False for ``logger=none``; a wandb logger also gets
    its sweep labels (where ``cfg.logger`` leaves them null) and the resolved config."""
    check_run_dir(cfg.run_dir)
    if not cfg.get("logger"):
        return False
    if not issubclass(get_class(cfg.logger._target_), WandbLogger):
        return instantiate(cfg.logger)
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    chosen = {k: v for k, v in sweep_labels(hydra).items() if cfg.logger.get(k) is None}
    logger = instantiate(cfg.logger, **chosen)
    logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return logger


# How to choose another run folder, for the messages.
ANOTHER = " with hydra.run.dir=<folder> (or run_dir=<folder> when calling bcx from Python)"


def check_run_dir(run_dir: str | Path) -> None:
    """Raise BCXError when bcx cannot write in ``run_dir`` (created where missing), when
    another live bcx process runs there, or when it already holds a finished run (its
    metrics.json).

    A new run there would replace that run's metrics, logs and checkpoints, or, if it failed,
    leave them half replaced (the earlier CSV log deleted, .hydra/ rewritten, a last-v1.ckpt
    beside a stale last.ckpt). A folder without metrics.json (a killed or failed run's) is
    reused: rerunning there is how such a run is retried.
    """
    problem = unwritable(run_dir)
    if problem is not None:
        raise _unwritable(run_dir, problem)
    running = holder(Path(run_dir) / RUN_LOCK) if rank_zero_only.rank == 0 else None
    if running is not None:
        raise _in_use(run_dir, running)
    if (Path(run_dir) / METRICS_FILE).is_file():
        raise BCXError(
            f"run_dir {run_dir} already holds a finished run ({METRICS_FILE}); a new run there "
            f"would overwrite its metrics, logs and checkpoints. Choose another folder{ANOTHER}, "
            "or delete that one to run there again."
        )


@contextmanager
def held_run_dir(run_dir: str | Path) -> Iterator[None]:
    """This process alone runs in ``run_dir`` during the body (``bcx.io.locked``), which is
    checked as ``check_run_dir`` does once the lock is held: of two runs started together in one
    folder, the second is refused with ``BCXError``. Under DDP the processes of ranks above 0
    (which Lightning starts in the same folder, and which rank 0 waits for) take no lock."""
    created = not Path(run_dir).exists()
    try:
        with ExitStack() as stack:
            try:
                if rank_zero_only.rank == 0:
                    stack.enter_context(locked(Path(run_dir) / RUN_LOCK))
            except Held as held:
                raise _in_use(run_dir, str(held)) from None
            except OSError as err:
                raise _unwritable(run_dir, describe(err)) from None
            check_run_dir(run_dir)
            yield
    finally:
        if created:  # a run refused before writing anything leaves no folder behind
            with suppress(OSError):
                Path(run_dir).rmdir()  # only an empty folder


def _unwritable(run_dir: str | Path, problem: str) -> BCXError:
    return BCXError(
        f"run_dir {run_dir} is not a folder bcx can write ({problem}); choose another{ANOTHER}."
    )


def _in_use(run_dir: str | Path, running: str) -> BCXError:
    return BCXError(
        f"run_dir {run_dir} is in use by another bcx run ({running}); two runs in one folder "
        f"would mix their logs and checkpoints. Choose another folder{ANOTHER}, or wait for that "
        "run to end."
    )


def sweep_labels(hydra: DictConfig | None) -> dict[str, str | None]:
    """wandb's group, job_type and name for a job of a Hydra multirun; all None for a single run
    or a config composed outside a Hydra app (``hydra`` is None).

    group: the ``experiment`` choice, else the sweep folder's last three parts (e.g.
    ``multirun/2025-01-31/12-00-00``). job_type: the job's swept overrides without the seed, e.g.
    ``env=lane,equal_budget=dagger``; name: all its swept overrides, seed included.
    """
    if hydra is None or hydra.mode != RunMode.MULTIRUN:
        return dict.fromkeys(LABEL_LIMITS)
    group = hydra.runtime.choices.get("experiment") or "/".join(Path(hydra.sweep.dir).parts[-3:])
    swept = swept_overrides(hydra)
    choice = {k: v for k, v in swept.items() if k not in SEED_KEYS}
    labels = {"group": group, "job_type": _join(choice), "name": _join(swept)}
    return {k: _fit(v, LABEL_LIMITS[k]) if v else None for k, v in labels.items()}


def swept_overrides(hydra: DictConfig) -> dict[str, str]:
    """{key: value} of this job's overrides whose key its sweep varies: the sweeper's params (an
    experiment's ``hydra.sweeper.params``, Optuna's search space) and the launch command's sweeps
    (``policy=gmm,flow``, read back from the sweep's multirun.yaml)."""
    parser = OverridesParser.create()
    keys = {key.lstrip("+~") for key in hydra.sweeper.get("params") or {}}
    launched = Path(hydra.runtime.cwd) / hydra.sweep.dir / "multirun.yaml"
    if launched.exists():
        overrides = parser.parse_overrides(list(OmegaConf.load(launched).hydra.overrides.task))
        keys |= {o.key_or_group for o in overrides if o.is_sweep_override()}
    job = parser.parse_overrides(list(hydra.overrides.task))
    return {o.key_or_group: o.input_line.partition("=")[2] for o in job if o.key_or_group in keys}


def _join(overrides: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items())


def _fit(label: str, limit: int) -> str:
    """``label`` within ``limit`` characters: the values alone (``lane,dagger``) if the keys make
    it too long, then cut."""
    if len(label) > limit:
        label = ",".join(part.split("=", 1)[-1] for part in label.split(","))
    return label[:limit]


def log_video(loggers: list[Logger], path: Path, step: int) -> None:
    """Attach the mp4 at ``path`` to the wandb run as ``rollout/video``; the other loggers have
    no place for it (it stays in the run directory)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_video("rollout/video", [str(path)], step=step)


def finish_loggers(loggers: list[Logger], metrics: dict[str, float]) -> None:
    """Give wandb the run's final metrics as its summary and end its run cleanly."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(metrics)
            logger.experiment.finish()
