"""The one error a malformed Corefile raises, so callers can point the operator at FILE:LINE."""

from __future__ import annotations

from wizard.errors import InputError


class CorefileSyntaxError(InputError):
    """A Corefile CoreDNS would refuse to load (or that the wizard cannot read safely).

    `str(err)` is `FILE:LINE: message`, the form editors and CI annotations understand."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message
