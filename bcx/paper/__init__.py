"""``make paper`` (``python -m bcx.paper``): every figure and table behind the lecture's claims
on behavioral cloning, regenerated from real bcx runs, each with its claim in a caption written
from the measured numbers, under ``outputs/paper/`` with an index page (index.md, index.html).

One file per piece (``gaussian_fit``, ``shift_curve``, ``modes``, ``mitigations``, ``heads``,
``labels``, ``diagnosis``); ``runs.py`` composes bcx's Hydra config and runs or reuses each
experiment, ``output.py`` writes figures, tables, the per-piece manifests and the index, and
``driver.py`` is the command line. An interrupted build reruns only what is missing: a run whose
``metrics.json`` exists is reused, a piece whose files and manifest exist is not redone.
"""
