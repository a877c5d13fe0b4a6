"""Where bcx's own Hydra configs are, in a source checkout and in an installed wheel.

The configs live in ``conf/`` at the top of the repository; the wheel ships the same folder as
the package ``bcx.conf`` (``setup.py`` maps it), so an installed bcx finds them next to its own
modules, from any working folder. ``CONF_DIR`` is that folder as a string, as
``hydra.main(config_path=...)`` and ``initialize_config_dir`` take it. A user's own configs are
added beside it with ``--config-dir`` or ``hydra.searchpath`` (docs/extending.md).
"""

from __future__ import annotations

from pathlib import Path

PRIMARY = "train.yaml"  # the bcx command's config: a folder holding it is bcx's config folder


def config_dir() -> Path:
    """bcx's config folder: ``bcx/conf`` inside an installed wheel, else ``conf/`` beside the
    ``bcx`` package (a source checkout, or an editable install of one). The installed one is
    looked for first, so that a stray top-level ``conf/`` in site-packages is never taken."""
    package = Path(__file__).resolve().parent
    candidates = (package / "conf", package.parent / "conf")
    for folder in candidates:
        if (folder / PRIMARY).is_file():
            return folder
    return candidates[-1]  # neither holds train.yaml: Hydra's error will name this folder


CONF_DIR = str(config_dir())
