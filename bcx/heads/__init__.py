"""Policy heads: one file per output distribution, all behind ``PolicyHead``."""

from bcx.heads.base import PolicyHead

__all__ = ["PolicyHead"]
