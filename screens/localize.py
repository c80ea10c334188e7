"""Key binding descriptions in the operator's language.

Why here: bindings are class attributes, fixed when a module is imported, before `--lang` or a
language switch is known; their descriptions are written in English and marked with `N_` for
the catalogs. Every screen the App pushes, and the App itself, get them translated (again, after
the language key) from the English they came from (`wizard.i18n.english_source`).
"""

from __future__ import annotations

import dataclasses

from textual.dom import DOMNode

from wizard.i18n import english_source, t


def localize_bindings(node: DOMNode) -> None:
    """Translate `node`'s own binding descriptions into the current language, in place."""
    table = node._bindings.key_to_bindings
    for key, bindings in table.items():
        table[key] = [
            dataclasses.replace(
                binding,
                description=t(english_source(binding.description)) if binding.description else "",
                tooltip=t(english_source(binding.tooltip)) if binding.tooltip else "",
            )
            for binding in bindings
        ]
