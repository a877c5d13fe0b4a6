"""The one exception type bcx raises for bad input: the app prints its message and exits 2."""

from __future__ import annotations

import sys
from typing import NoReturn


class BCXError(Exception):
    """A user-facing error: its message is one paragraph naming the key and the allowed values."""


def exit_with(program: str, error: BCXError) -> NoReturn:
    """How every bcx command ends on bad input: ``<program>: error: <message>``, exit code 2."""
    print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)
