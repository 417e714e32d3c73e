"""Errors a user can fix. The CLI prints them without a traceback and exits with ``exit_code``."""

from __future__ import annotations


class AigenbenchError(Exception):
    """A problem in the user's input: the message names the thing and says how to fix it."""

    exit_code = 2


class ConfigError(AigenbenchError):
    """A configuration key, value or file that cannot be used."""


class ProtocolError(AigenbenchError):
    """Data that the benchmark's rules cannot be applied to (timeline, windows, splits)."""


class DataError(AigenbenchError):
    """A dataset, image or path that cannot be read."""
