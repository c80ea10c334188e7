"""The one error a malformed Corefile raises, so callers can point the operator at FILE:LINE."""

from __future__ import annotations

from wizard.errors import InputError
from wizard.i18n import msg


class CorefileSyntaxError(InputError):
    """A Corefile CoreDNS would refuse to load (or that the wizard cannot read safely).

    `str(err)` is `FILE:LINE: message`, the form editors and CI annotations understand."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(msg("corefile.at-line", "{filename}:{line}: {message}", filename=filename, line=line,
                             message=message))
        self.filename = filename
        self.line = line
        self.message = message
