"""Ships conf/ inside the wheel as the package ``bcx.conf``; everything else is in pyproject.toml.

conf/ stays at the top of the repository (the layout names it), so setuptools' package discovery,
which pyproject.toml alone offers, cannot find it under ``bcx``: this lists bcx's packages, plus
conf/ and each of its config groups mapped into ``bcx.conf``. A new package or config group needs
no edit here. ``bcx.conf_dir`` finds the configs in either place.
"""

from pathlib import Path

from setuptools import find_packages, setup

CONF = Path(__file__).resolve().parent / "conf"
GROUPS = sorted(path.relative_to(CONF).parts for path in CONF.rglob("*") if path.is_dir())

setup(
    packages=[
        *find_packages(where=CONF.parent, include=["bcx", "bcx.*"]),
        "bcx.conf",
        *(".".join(("bcx.conf", *parts)) for parts in GROUPS),
    ],
    package_dir={"bcx.conf": "conf"},
)
