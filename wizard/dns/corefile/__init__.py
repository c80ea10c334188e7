"""Corefiles: the model, the parser that reads them as CoreDNS does, the canonical printer,
and `expand()`, which gives the configuration CoreDNS would actually run."""

from __future__ import annotations

from wizard.dns.corefile.errors import CorefileSyntaxError
from wizard.dns.corefile.expand import expand
from wizard.dns.corefile.keys import parse_key
from wizard.dns.corefile.model import Corefile, Directive, ServerBlock, ServerKey, Snippet, TopLevelImport
from wizard.dns.corefile.parser import parse
from wizard.dns.corefile.printer import format_corefile

__all__ = [
    "Corefile",
    "CorefileSyntaxError",
    "Directive",
    "ServerBlock",
    "ServerKey",
    "Snippet",
    "TopLevelImport",
    "expand",
    "format_corefile",
    "parse",
    "parse_key",
]
