"""Where a result came from: package versions and the git commit of the checkout that made it."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

PACKAGES = (
    "bcx",
    "torch",
    "pytorch-lightning",
    "hydra-core",
    "gymnasium",
    "mujoco",
    "numpy",
    "stable-baselines3",
)
REPO = Path(__file__).resolve().parents[2]


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" where it is missing)."""
    found = {}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_state() -> dict[str, str | bool | None]:
    """{"commit": HEAD of the bcx checkout, "dirty": uncommitted changes to tracked files},
    or None values where bcx does not run from a git checkout of its own (an installed bcx
    inside some other repository) or git fails (no git, a checkout it refuses as another
    user's, a timeout on a slow shared disk): a finished run never fails for its provenance."""
    none = {"commit": None, "dirty": None}
    try:
        top, commit = _git("rev-parse", "--show-toplevel", "HEAD").splitlines()
        if Path(top).resolve() != REPO:
            return none
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, ValueError, subprocess.SubprocessError):  # SubprocessError: exit, timeout
        return none
    return {"commit": commit, "dirty": dirty}


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def provenance() -> dict:
    return {"git": git_state(), "versions": versions()}
