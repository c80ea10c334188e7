"""The `coredns-wizard` console script: a subcommand runs headless, no subcommand opens the wizard.

Why a separate entry: `wizard.cli` must stay free of any UI import (the engine never imports
Textual), so this module sits on top: subcommands go to `wizard.cli.main` unchanged, and Textual
is imported only once the wizard really opens, which keeps `coredns-wizard --help` fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from wizard.i18n import N_, t

TYPE_CHECKING = False  # typing and pathlib cost `--help` ~4 ms to import; mypy reads this as typing's
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from wizard.k8s.connection import Connection
    from wizard.lab.cluster import Lab

DEMO_SPEED = 20.0
"""Lab speed for --demo: CoreDNS's 30 s readiness delay passes in about 1.5 s."""
REAL_WAITS = {"observe": "5m", "ipvs_wait": "5m"}
"""The guide's waits (observation per round, IPVS session expiry), the defaults on a real cluster."""
DEMO_WAITS = {"observe": "15s", "ipvs_wait": "10s"}
"""--demo's defaults: the lab's DNS sees no real traffic, so a new user does not wait 20 minutes."""
HEADLESS_HINT = N_("use the headless commands instead: coredns-wizard plan | switch | status | rollback "
                   "(coredns-wizard --help lists them)")
"""English, marked with N_: printed through t()."""
LAB_FLAGS = ("nodes", "kube_dns_replicas", "k8s_version", "proxy_mode", "fault", "speed", "kernel",
             "guide_configmap", "cluster_domain", "preset")


def _commands_epilog() -> str:
    from wizard.cli import COMMANDS

    lines = [t("subcommands (run headless; `coredns-wizard COMMAND --help` for their options):")]
    for name, module_name in COMMANDS.items():
        try:
            help_text = importlib.import_module(module_name).HELP
        except ModuleNotFoundError:
            continue
        lines.append(f"  {name:16} {t(help_text)}")
    lines.append("")
    lines.append(t("Without a subcommand the terminal wizard opens on the current kubeconfig context."))
    return "\n".join(lines)


class _WizardParser(argparse.ArgumentParser):
    """Lists the subcommands in its help only when help is printed: listing them imports every
    command module, which opening the wizard does not need."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = _commands_epilog()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    from wizard.cli import RawDescriptionHelpFormatter
    from wizard.commands._options import add_language_argument, add_plan_arguments, add_switch_run_arguments
    from wizard.k8s.flags import add_connection_arguments

    parser = _WizardParser(
        prog="coredns-wizard",
        usage="coredns-wizard [COMMAND ...] | coredns-wizard [wizard options]",
        description=t("Switch a Kubernetes cluster from kube-dns to CoreDNS one replica at a time, "
                      "verifying every step, with rollback. With no COMMAND, opens the terminal wizard."),
        formatter_class=RawDescriptionHelpFormatter,
    )
    from wizard import __version__

    parser.add_argument("--version", action="version", version=f"coredns-wizard {__version__}",
                        help=t("show program's version number and exit"))
    wizard = parser.add_argument_group(t("wizard options"))
    add_connection_arguments(wizard)  # type: ignore[arg-type]
    add_language_argument(wizard)
    mode = wizard.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help=t("send every change with dryRun=All: the API server validates, "
                             "nothing is stored"))
    mode.add_argument("--read-only", action="store_true",
                      help=t("never change the cluster; keys that would are not even bound"))
    add_plan_arguments(wizard)
    add_switch_run_arguments(wizard)
    wizard.add_argument("--ipvs-wait", metavar="DURATION", default=None,
                        help=t("the IPVS wait when kube-proxy's old UDP timeout cannot be read (the gate "
                               "otherwise waits the old timeout it reads; default 5m, the guide's; "
                               "{demo_wait} with --demo)", demo_wait=DEMO_WAITS['ipvs_wait']))
    wizard.add_argument("--report", metavar="FILE",
                        help=t("write the HTML change record (steps, times, kubectl, DNS charts) to FILE "
                               "when the Done stage opens; w there writes it too"))
    wizard.add_argument("--log-file", metavar="FILE",
                        help=t("where the wizard logs (default: $XDG_STATE_HOME/coredns-wizard/tui.log)"))
    wizard.add_argument("--keymap", metavar="FILE",
                        help=t("remap keys by binding id, a TOML [keys] table (default: "
                               "$XDG_CONFIG_HOME/coredns-wizard/keymap.toml when it exists)"))
    demo = parser.add_argument_group(t("demo (a simulated cluster started in-process)"))
    demo.add_argument("--demo", action="store_true", help=t("start the lab and open the wizard on it"))
    demo.add_argument("--nodes", type=int, metavar="N", help=t("lab nodes (default 3)"))
    demo.add_argument("--kube-dns-replicas", type=int, metavar="N",
                      help=t("lab kube-dns replicas (default 3)"))
    demo.add_argument("--k8s-version", metavar="V", help=t("lab Kubernetes version (default 1.20.15)"))
    demo.add_argument("--proxy-mode", metavar="ipvs|iptables", help=t("lab kube-proxy mode (default ipvs)"))
    demo.add_argument("--preset", metavar="NAME",
                      help=t("lab cluster shape (default tke; "
                             "`coredns-wizard lab --list-presets` lists them)"))
    demo.add_argument("--cluster-domain", metavar="D", help=t("lab cluster domain (default cluster.local)"))
    demo.add_argument("--kernel", metavar="old|fixed", help=t("lab node kernel (default old)"))
    demo.add_argument("--guide-configmap", action="store_true", default=None,
                      help=t("the guide's full kube-dns ConfigMap (with federations)"))
    demo.add_argument("--fault", action="append", metavar="NAME", help=t("inject a lab fault (repeatable)"))
    demo.add_argument("--speed", type=float, metavar="X",
                      help=t("lab speed (default {speed:g}: pods become ready in a second or two)",
                             speed=DEMO_SPEED))
    parser.set_defaults(observe=None)  # filled in by apply_wait_defaults: short for --demo
    return parser


def apply_wait_defaults(args: argparse.Namespace) -> str:
    """The guide's 5-minute waits on a real cluster; short ones for --demo (unless given). Returns
    the line the wizard shows about it ("" on a real cluster)."""
    waits = DEMO_WAITS if args.demo else REAL_WAITS
    shortened = []
    for name, value in waits.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
            if args.demo:
                shortened.append(f"--{name.replace('_', '-')} {value}")
    # --ipvs-wait is only the fallback when kube-proxy's old UDP timeout cannot be read: the gate
    # waits the timeout it reads (300 s on the demo's old-kernel nodes), so the note must not promise
    # a 10 s IPVS wait
    shortened = [flag for flag in shortened if not flag.startswith("--ipvs-wait")]
    if not shortened:
        return ""
    return t("Demo: short waits ({waits}; the IPVS gate still waits the old UDP timeout "
             "it reads from kube-proxy: s skips it with a reason); on a real cluster --observe defaults "
             "to the guide's {observe}.", waits=", ".join(shortened), observe=REAL_WAITS["observe"])


def terminal_problem() -> str | None:
    """Why the terminal wizard cannot run here (stdin or stdout is not a terminal), else None."""
    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        if stream is None or not stream.isatty():
            return t("{stream} is not a terminal", stream=name)
    return None


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    from wizard.cli import COMMANDS

    if args_list and args_list[0] in COMMANDS:
        from wizard.cli import main as cli_main

        return cli_main(args_list)
    from wizard.cli import choose_language
    from wizard.errors import WizardError

    refused = choose_language(args_list)
    if refused is not None:
        return refused
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        return _run_wizard(args)
    except WizardError as err:
        print(f"coredns-wizard: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("coredns-wizard: " + t("interrupted"), file=sys.stderr)
        return 130


def lab_options(args: argparse.Namespace) -> Any:
    """LabOptions from the demo flags; InputError when they are given without --demo."""
    from wizard.errors import InputError

    given = [name for name in LAB_FLAGS if getattr(args, name, None) not in (None, [])]
    if not args.demo:
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise InputError(t("{flag} configures the demo lab: add --demo, or drop {flag}", flag=flag))
        return None
    from wizard.lab.cluster import LabOptions  # the lab (~0.1 s of imports) only for --demo

    if args.kubeconfig or args.context:
        raise InputError(t("--demo opens the wizard on its own lab: drop --kubeconfig/--context"))
    values: dict[str, Any] = {"speed": DEMO_SPEED, "dns_port": 0}
    for name in LAB_FLAGS:
        if name == "fault":
            continue
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if args.fault:
        values["faults"] = tuple(args.fault)
    options = LabOptions(**values)
    options.validate()
    return options


def switch_options(args: argparse.Namespace, lab_dns_port: int | None) -> Any:
    import dataclasses

    from wizard.commands._options import plan_options, with_switch_run_options
    from wizard.commands._progress import parse_duration
    from wizard.errors import InputError
    from wizard.options import Mode

    apply_wait_defaults(args)  # idempotent: fills only what is still unset
    ipvs_wait = parse_duration(args.ipvs_wait, "--ipvs-wait")
    if ipvs_wait < 0:
        raise InputError(t("--ipvs-wait {value}: must not be negative", value=repr(args.ipvs_wait)))
    mode: Mode = "read-only" if args.read_only else "dry-run" if args.dry_run else "live"
    options = with_switch_run_options(plan_options(args, mode, lab_dns_port), args)
    return dataclasses.replace(options, ipvs_wait_seconds=ipvs_wait)


def _setup_logging(log_file: str | None) -> Path:
    """Log to a file only: the terminal belongs to the UI."""
    import logging
    from pathlib import Path

    from wizard.errors import InputError
    from wizard.migration.journal import open_private, state_root

    path = Path(log_file) if log_file else state_root() / "tui.log"
    try:
        stream = os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8")
        handler: logging.Handler = logging.StreamHandler(stream)
    except OSError as err:
        raise InputError(
            t("--log-file {path}: cannot write ({error}); pass another file", path=path,
              error=err.strerror or err)
        ) from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def _run_wizard(args: argparse.Namespace) -> int:
    wait_note, keymap, lab_opts, connection = _checked_inputs(args)
    problem = terminal_problem()
    if problem is not None:  # Textual would wait forever for a terminal that is not there
        print("coredns-wizard: " + t("the terminal wizard needs a terminal ({problem}); {hint}",
                                     problem=problem, hint=t(HEADLESS_HINT)), file=sys.stderr)
        return 2
    log_path = _setup_logging(args.log_file)
    lab = None
    if lab_opts is not None:
        from wizard.lab.cluster import Lab

        lab = Lab(lab_opts)
        print("coredns-wizard: " + t("starting the demo lab…"), file=sys.stderr, flush=True)
        try:
            lab.start()
        except (TimeoutError, OSError) as err:
            print("coredns-wizard: " + t("the demo lab could not start: {error}", error=err), file=sys.stderr)
            return 1
    try:
        if connection is None:
            assert lab is not None
            connection = _connection_for(str(lab.kubeconfig_path), args)
        return _run_app(args, connection, lab, wait_note, keymap, log_path)
    finally:
        if lab is not None:
            lab.stop()


def _checked_inputs(args: argparse.Namespace) -> tuple[str, dict[str, str], Any, Connection | None]:
    """Every flag, the keymap, the kubeconfig (for a real cluster) and --report checked before the
    terminal is touched or a lab starts, so bad input is named first: (wait note, keymap, lab
    options or None, connection or None for the demo)."""
    from wizard.commands._progress import parse_duration
    from wizard.errors import InputError
    from wizard.k8s.connection import parse_request_timeout

    wait_note = apply_wait_defaults(args)
    for flag in ("observe", "ipvs_wait", "ready_timeout"):  # bad input fails before a lab starts
        parse_duration(getattr(args, flag), "--" + flag.replace("_", "-"))
    parse_request_timeout(args.request_timeout)
    from screens.keymap import load_keymap

    keymap, _ = load_keymap(args.keymap)
    lab_opts = lab_options(args)
    # a real cluster's kubeconfig is checked before the terminal (bad input is named first)
    connection = None if lab_opts is not None else _connection_for(args.kubeconfig, args)
    if args.report:
        from wizard.migration.change_record import record_path_problem

        problem = record_path_problem(args.report)
        if problem is not None:
            raise InputError(f"--report {args.report}: {problem}")
    return wait_note, keymap, lab_opts, connection


def _connection_for(kubeconfig: str | None, args: argparse.Namespace) -> Connection:
    """The connection for `kubeconfig` with the context and request timeout the wizard was given."""
    from wizard.k8s.connection import resolve_connection

    return resolve_connection(kubeconfig, args.context, args.request_timeout)


def _run_app(
    args: argparse.Namespace, connection: Connection, lab: Lab | None, wait_note: str, keymap: dict[str, str],
    log_path: Path,
) -> int:
    """The App on a gateway built from `connection`; prints the quit summary and the log's path."""
    import logging

    options = switch_options(args, connection.lab_dns_port)
    from wizard.k8s.gateway import Gateway

    gateway = Gateway(connection, options.mode)
    try:
        from screens.app import build_app
        from screens.context import WizardContext

        context = WizardContext(connection=connection, gateway=gateway, options=options, lab=lab,
                                wait_note=wait_note, report_path=args.report)
        app = build_app(context, keymap=keymap)
        app.run()
        logging.getLogger("coredns_wizard.tui").info("wizard exited with %s", app.return_code)
        if app.quit_summary:  # quit mid-switch: how the cluster stands, and how to resume
            print(app.quit_summary, flush=True)
        print("coredns-wizard: " + t("log in {path}", path=log_path), file=sys.stderr)
        return int(app.return_code or 0)
    finally:
        gateway.close()

if __name__ == "__main__":
    raise SystemExit(main())
