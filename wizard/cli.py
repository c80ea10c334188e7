"""The `coredns-wizard` command line: parses arguments, runs one subcommand, maps errors to exit codes.

Errors the operator can act on (WizardError) print one line naming the file, key and value and
exit 2 (bad input) or 1 (a check failed); nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from wizard import __version__
from wizard.commands._options import add_language_argument
from wizard.errors import WizardError
from wizard.i18n import N_, language_from_argv, set_language, t

COMMANDS: dict[str, str] = {
    "translate": "wizard.commands.translate",
    "check-corefile": "wizard.commands.check_corefile",
    "render": "wizard.commands.render",
    "versions": "wizard.commands.versions",
    "lab": "wizard.commands.lab",
    "plan": "wizard.commands.plan",
    "switch": "wizard.commands.switch",
    "rollback": "wizard.commands.rollback",
    "status": "wizard.commands.status",
    "cleanup": "wizard.commands.cleanup",
}


ARGPARSE_TEXTS = (
    # argparse's own texts (it asks gettext for them when it builds a parser or reports an error)
    N_("usage: "),
    N_("options"),
    N_("positional arguments"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("unrecognized arguments: %s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("expected %s argument"),
    N_("expected %s arguments"),
    N_("ignored explicit argument %r"),
    N_("not allowed with argument %s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("can't open '%(filename)s': %(error)s"),
)
"""The argparse texts an operator can see, translated by `localize_argparse` (their %-format
placeholders are argparse's, kept as they are)."""


def localize_argparse() -> None:
    """Make argparse's own texts ("usage: ", "options", its error lines) follow the current
    language. argparse looks them up through gettext each time it builds a parser or reports an
    error, so this is called once, after `set_language` and before any parser is built (by
    `main` here and by the terminal wizard's entry point)."""
    known = set(ARGPARSE_TEXTS)

    def gettext(text: str) -> str:
        return t(text) if text in known else text

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    argparse._ = gettext  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def _help_width() -> int:
    """What argparse's own default width would be (shutil.get_terminal_size's columns − 2),
    without importing shutil: with bz2 and lzma it costs `--help` ~2 ms."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout at the terminal's width (see `_help_width`)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _help_width() if width is None else width)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, keeping the description's own line breaks (the wizard's command list)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; with `command`, of that one only, so running one command
    imports its own module and not the other nine (they cost start-up time for nothing)."""
    parser = argparse.ArgumentParser(
        prog="coredns-wizard",
        formatter_class=HelpFormatter,
        description=t(
            "Switch a Kubernetes cluster from kube-dns to CoreDNS one replica at a time, "
            "verifying every step, with rollback."
        ),
    )
    parser.add_argument("--version", action="version", version=f"coredns-wizard {__version__}",
                        help=t("show program's version number and exit"))
    add_language_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if command is not None and name != command:
            continue
        module = importlib.import_module(module_name)
        help_text = t(module.HELP)
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        module.add_arguments(p)
        add_language_argument(p)
        p.set_defaults(_run=module.run)
    return parser


def choose_language(argv: list[str]) -> int | None:
    """The language of `--lang` (else the environment's) for everything after, argparse's own
    texts included; the exit code when `--lang` names no language we have, else None."""
    try:
        set_language(language_from_argv(argv))
    except WizardError as err:
        print(f"coredns-wizard: {err}", file=sys.stderr)
        return err.exit_code
    localize_argparse()
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    refused = choose_language(argv)
    if refused is not None:
        return refused
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(run(args))
    except WizardError as err:
        print(f"coredns-wizard {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"coredns-wizard {args.command}: " + t("interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
