"""The one exception type bcx raises for bad input: the app prints its message and exits 2."""


class BCXError(Exception):
    """A user-facing error: its message is one paragraph naming the key and the allowed values."""
