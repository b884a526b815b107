"""Errors that carry a one-line message meant for the user."""

from __future__ import annotations

__all__ = ["RtbenchError", "ConfigError", "TargetUnreachable", "BundleError"]


class RtbenchError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""

    exit_code = 3


class ConfigError(RtbenchError):
    """A scenario, SLO file or CLI option is invalid."""


class TargetUnreachable(RtbenchError):
    """The target could not be connected to."""


class BundleError(RtbenchError):
    """A result bundle is missing, unreadable or malformed."""
