"""``python -m bcx <overrides>``: the same Hydra app as the ``bcx`` console script."""

from bcx.train import cli

cli()
