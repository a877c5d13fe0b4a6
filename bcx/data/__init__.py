"""Demonstrations: collection, on-disk cache, and the in-memory Lightning datamodule."""
