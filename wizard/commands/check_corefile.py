"""`coredns-wizard check-corefile FILE --coredns-version V`: would CoreDNS V start with this Corefile?

Output contract (scripts and CI rely on it):
  * errors (what CoreDNS V would refuse) go to stdout, one `FILE:LINE: error: message` per line;
  * warnings (deprecated or no-op settings) and the one-line summary go to stderr;
  * exit 0: CoreDNS V accepts the file (warnings allowed); exit 1: it would refuse it, including
    a syntax error (reported as FILE:LINE like any other error); exit 2: the file cannot be read or
    the version is not a version (one line on stderr, from the dispatcher).
FILE `-` reads standard input.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_

HELP = N_(
    "Check a Corefile against the plugins and options of one CoreDNS version (exit 1 if refused)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.i18n import t

    parser.add_argument("file", metavar="FILE", help=t("the Corefile to check ('-' for standard input)"))
    parser.add_argument(
        "--coredns-version",
        required=True,
        metavar="V",
        help=t("the CoreDNS version that will run it, e.g. 1.8.4, v1.11.1 or 1.11.1-tke.1"),
    )


MAX_COREFILE_BYTES = 1024 * 1024
"""A Corefile lives in a ConfigMap, which holds at most 1 MiB."""


def _read(path: str) -> str:
    import os
    import stat

    from wizard.errors import InputError
    from wizard.i18n import msg

    if path == "-":
        text = sys.stdin.read(MAX_COREFILE_BYTES + 1)
        if len(text) > MAX_COREFILE_BYTES:
            raise InputError(msg(
                "dns.corefile-stdin-too-big",
                "Corefile on standard input is larger than {max} bytes (a ConfigMap holds at most 1 MiB); "
                "give the Corefile",
                max=MAX_COREFILE_BYTES,
            ))
        return text
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = stat.S_IFREG  # open() below says what is wrong
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise InputError(msg(
            "dns.corefile-not-regular",
            "Corefile '{path}' is not a regular file (a device, FIFO or socket); give the Corefile",
            path=path,
        ))
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read(MAX_COREFILE_BYTES + 1)
        if len(text) > MAX_COREFILE_BYTES:
            raise InputError(msg(
                "dns.corefile-too-big",
                "Corefile '{path}' is larger than {max} bytes (a ConfigMap holds at most 1 MiB); "
                "give the Corefile",
                path=path, max=MAX_COREFILE_BYTES,
            ))
        return text
    except FileNotFoundError:
        problem = msg("dns.corefile-missing", "Corefile '{path}' does not exist; give the path of a Corefile",
                      path=path)
    except IsADirectoryError:
        problem = msg("dns.corefile-directory",
                      "Corefile '{path}' is a directory; give the path of the Corefile inside it", path=path)
    except PermissionError:
        problem = msg("dns.corefile-unreadable",
                      "Corefile '{path}' is not readable (permission denied); check its permissions",
                      path=path)
    except UnicodeDecodeError as err:
        problem = msg("dns.corefile-not-utf8",
                      "Corefile '{path}' is not UTF-8 text ({reason} at byte {start}); give a text Corefile",
                      path=path, reason=err.reason, start=err.start)
    except OSError as err:
        problem = msg("dns.corefile-read-error", "Corefile '{path}' cannot be read: {error}", path=path,
                      error=err.strerror or str(err))
    raise InputError(problem)


def run(args: argparse.Namespace) -> int:
    import os

    from wizard.dns.checker import check_corefile_text, checked_version, format_finding
    from wizard.i18n import t
    from wizard.textsafety import escape_control

    version = checked_version(args.coredns_version)  # a bad version is exit 2, before any reading
    text = _read(args.file)
    name = "<stdin>" if args.file == "-" else args.file
    base_dir = os.getcwd() if args.file == "-" else os.path.dirname(os.path.abspath(args.file))
    findings = check_corefile_text(text, version, name, base_dir=base_dir)
    errors = [f for f in findings if f.is_error]
    warnings = [f for f in findings if not f.is_error]
    # findings quote the Corefile, which may hold anything: no control character reaches the terminal
    for finding in errors:
        print(escape_control(format_finding(name, finding)))
    sys.stdout.flush()
    for finding in warnings:
        print(escape_control(format_finding(name, finding)), file=sys.stderr)
    counts = t("{errors}, {warnings}", errors=_errors(len(errors)), warnings=_warnings(len(warnings)))
    if errors:
        refused = t("{name}: CoreDNS {version} would refuse this Corefile ({counts})", name=name,
                    version=str(version), counts=counts)
        print(refused, file=sys.stderr)
        return 1
    print(t("{name}: OK for CoreDNS {version} ({counts})", name=name, version=str(version), counts=counts),
          file=sys.stderr)
    return 0


def _errors(count: int) -> str:
    from wizard.i18n import t

    return t("{count} error", count=count) if count == 1 else t("{count} errors", count=count)


def _warnings(count: int) -> str:
    from wizard.i18n import t

    return t("{count} warning", count=count) if count == 1 else t("{count} warnings", count=count)
