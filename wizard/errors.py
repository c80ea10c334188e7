"""Errors the command line turns into one clear line and an exit code, never a traceback."""

from __future__ import annotations


class WizardError(Exception):
    """A problem the operator can act on; `str(err)` names the object, key and value and what to do."""

    exit_code = 2


class InputError(WizardError):
    """Bad input or usage: a malformed file, an invalid value, an unknown version (exit 2)."""

    exit_code = 2


class CheckFailed(WizardError):
    """A check ran and found problems (for example a Corefile CoreDNS would refuse): exit 1."""

    exit_code = 1
