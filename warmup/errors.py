"""Errors that carry a sysexits code (see DESIGN.md) and a one-line message for the user."""

from __future__ import annotations


class WarmupError(Exception):
    """A user-facing failure: ``str(err)`` names the fault and the fix; ``exit_code`` is sysexits."""

    exit_code = 1


class UsageError(WarmupError):
    exit_code = 64  # EX_USAGE


class DataError(WarmupError):
    exit_code = 65  # EX_DATAERR


class Unavailable(WarmupError):
    exit_code = 69  # EX_UNAVAILABLE


class TempFail(WarmupError):
    exit_code = 75  # EX_TEMPFAIL


class PermissionFailure(WarmupError):
    exit_code = 77  # EX_NOPERM


class ConfigError(WarmupError):
    exit_code = 78  # EX_CONFIG
