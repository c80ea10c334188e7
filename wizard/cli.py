"""The `coredns-wizard` command line: parses arguments, runs one subcommand, maps errors to exit codes.

Errors the operator can act on (WizardError) print one line naming the file, key and value and
exit 2 (bad input) or 1 (a check failed); nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from wizard import __version__
from wizard.commands._options import add_language_argument
from wizard.errors import WizardError
from wizard.i18n import language_from_argv, set_language

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; with `command`, of that one only, so running one command
    imports its own module and not the other nine (they cost start-up time for nothing)."""
    parser = argparse.ArgumentParser(
        prog="coredns-wizard",
        description=(
            "Switch a Kubernetes cluster from kube-dns to CoreDNS one replica at a time, "
            "verifying every step, with rollback."
        ),
    )
    parser.add_argument("--version", action="version", version=f"coredns-wizard {__version__}")
    add_language_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if command is not None and name != command:
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        add_language_argument(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        set_language(language_from_argv(argv))
    except WizardError as err:
        print(f"coredns-wizard: {err}", file=sys.stderr)
        return err.exit_code
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
        print(f"coredns-wizard {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
