"""A quiet terminal: bcx's own lines and the results, not the libraries' chatter.

``quiet()`` is called once where each bcx command starts. It hides only known, specific noise:

* Lightning's info lines (``GPU available: ...``, ``TPU available: ...``, the ``💡 Tip`` adverts,
  ``Trainer.fit stopped: max_steps reached``, ``weights_only was not set``) and PyOpenGL's: their
  loggers are raised to WARNING, so their warnings and errors still show.
* Deprecation notices that dependencies raise about other dependencies, which a bcx user can do
  nothing about: filtered by message and category, only where they come from that library.

bcx's own ``log.warning`` lines and warnings that concern the run (a dataset smaller than asked,
an untrustworthy measurement) are left alone.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings

# Loggers whose INFO lines are chatter: Lightning's rank_zero_info lines and checkpoint notes, and
# PyOpenGL's "No OpenGL_accelerate module loaded" when rollout.video renders.
QUIET_LOGGERS = (
    "pytorch_lightning",
    "lightning_fabric",
    "lightning.pytorch",
    "lightning.fabric",
    "OpenGL",
)

# Lightning's modules, as a filter's module regex (which is matched at the name's start).
LIGHTNING = r"(pytorch_)?lightning"

# (message regex, category, module regex of the code the warning is attributed to)
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # torch 2.10+ deprecated LeafSpec; Lightning 2.6's _pytree still builds one on every fit.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, LIGHTNING),
    # A resumed fit writes to its new run folder; bcx keeps no best-k checkpoints to carry over.
    (r"The dirpath has changed from", UserWarning, LIGHTNING),
    # On any machine with SLURM's tools installed Lightning suggests `srun` for every run, even
    # one that is not meant for the cluster; bcx's SLURM runs go through submitit, which uses it.
    (r"The `srun` command is available on your system but is not used", UserWarning, LIGHTNING),
)

# MuJoCo's compiler deprecations about attributes in the model files gymnasium ships (HalfCheetah's
# settotalmass): MuJoCo prints them from C to stderr, and to a MUJOCO_LOG.TXT in the working folder.
MUJOCO_DEPRECATION = re.compile(r"compiler attribute '\w+' is deprecated")


def quiet() -> None:
    """Hide the known third-party noise; idempotent."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message, category, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    try:
        import mujoco
    except ImportError:  # only the MuJoCo envs need it
        return
    mujoco.set_mju_user_warning(_mujoco_warning)


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings as it prints them, less its known deprecations."""
    if not MUJOCO_DEPRECATION.search(message):
        print(f"WARNING: {message}", file=sys.stderr)
