"""`kubectl exec` inside a lab pod: the handful of commands an operator runs in a DNS pod.

The lab runs no container images, so exec is emulated: `cat` of the files a pod really has
(/etc/resolv.conf, /etc/hostname, ConfigMap volume files such as /etc/coredns/Corefile),
`hostname`, `env`, `echo`, `nslookup` and `dig` answering through the lab's real DNS sockets, and
`sh -c` of these. Anything else fails the way the container runtime does (exit 127, "executable
file not found in $PATH"), so a wizard that relies on a tool a real image lacks fails here too.

The DNS commands block on real sockets: call `run_command` from a worker thread, never from the
lab's event loop (the DNS servers answering it run on that loop).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

ExecResult = tuple[int, bytes, bytes]
Route = Callable[[str, int], tuple[str, int]]
"""Maps a destination (ip, port) to the real loopback socket that answers it; raises OSError when
the lab has no route (the lab never sends a packet off the machine)."""


def loopback_only(ip: str, port: int) -> tuple[str, int]:
    """The route when no VirtualNetwork is given: loopback addresses only."""
    if not ip.startswith("127."):
        raise OSError(f"no route to {ip}:{port} in the lab")
    return ip, port


@dataclass
class ExecContext:
    """What a command can see of its pod and container."""

    pod_name: str
    namespace: str
    container: str
    resolv_conf: str
    files: dict[str, str]  # absolute path -> content (mounted ConfigMaps, /etc/hostname, ...)
    env: dict[str, str] = field(default_factory=dict)
    route: Route = loopback_only  # (ip, port as the pod names it) -> the real socket
    query_timeout: float = 2.0


def _not_found(executable: str) -> ExecResult:
    message = (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        f'exec: "{executable}": executable file not found in $PATH: unknown\n'
    )
    return 127, b"", message.encode()


def _resolv(ctx: ExecContext) -> tuple[list[str], list[str], int]:
    """nameservers, search domains and ndots from the pod's resolv.conf."""
    servers: list[str] = []
    search: list[str] = []
    ndots = 1
    for line in ctx.resolv_conf.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] == "search":
            search = words[1:]
        elif words[0] == "options":
            for option in words[1:]:
                if option.startswith("ndots:") and option[6:].isdigit():
                    ndots = int(option[6:])
    return servers, search, ndots


def _query(ctx: ExecContext, server: str, name: str, rdtype: str, port: int = 53) -> dns.message.Message:
    """One query over UDP, retried over TCP when truncated (as resolvers do)."""
    host, real_port = ctx.route(server, port)
    request = dns.message.make_query(name, rdtype)
    response = dns.query.udp(request, host, port=real_port, timeout=ctx.query_timeout)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(request, host, port=real_port, timeout=ctx.query_timeout)
    return response


def _candidates(name: str, search: list[str], ndots: int) -> list[str]:
    if name.endswith("."):
        return [name]
    expanded = [f"{name}.{domain}." for domain in search]
    return [*expanded, f"{name}."] if name.count(".") < ndots else [f"{name}.", *expanded]


def _nslookup(ctx: ExecContext, args: list[str]) -> ExecResult:
    names = [a for a in args if not a.startswith("-")]
    if not names:
        return 1, b"", b"usage: nslookup NAME [SERVER]\n"
    servers, search, ndots = _resolv(ctx)
    server = names[1] if len(names) > 1 else (servers[0] if servers else "127.0.0.1")
    header = f"Server:\t\t{server}\nAddress:\t{server}#53\n\n"
    name = names[0]
    for candidate in _candidates(name, search, ndots):
        try:
            response = _query(ctx, server, candidate, "A")
        except (dns.exception.DNSException, OSError):
            return 1, b"", b";; connection timed out; no servers could be reached\n\n"
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            continue
        if rcode != dns.rcode.NOERROR:
            text = f"{header}** server can't find {name}: {dns.rcode.to_text(rcode)}\n\n"
            return 1, text.encode(), b""
        lines = [header.rstrip("\n") + "\n"]
        for rrset in response.answer:
            for rdata in rrset:
                if rrset.rdtype == dns.rdatatype.A:
                    lines.append(f"Name:\t{rrset.name.to_text(omit_final_dot=True)}\nAddress: {rdata}\n")
                elif rrset.rdtype == dns.rdatatype.CNAME:
                    lines.append(f"{rrset.name.to_text(omit_final_dot=True)}\tcanonical name = {rdata}\n")
        return 0, ("".join(lines) + "\n").encode(), b""
    return 1, f"{header}** server can't find {name}: NXDOMAIN\n\n".encode(), b""


def _dig(ctx: ExecContext, args: list[str]) -> ExecResult:
    servers, _, _ = _resolv(ctx)
    server = servers[0] if servers else "127.0.0.1"
    name = "."
    rdtype = "A"
    short = False
    port = 53
    words = iter(args)
    for word in words:
        if word.startswith("@"):
            server = word[1:]
        elif word == "+short":
            short = True
        elif word.startswith("+"):
            continue
        elif word == "-p":
            value = next(words, "")
            if not value.isdigit():
                return 1, b"", f"dig: invalid port '{value}'\n".encode()
            port = int(value)
        elif word.upper() in ("A", "AAAA", "SRV", "PTR", "TXT", "MX", "NS", "SOA", "CNAME", "ANY"):
            rdtype = word.upper()
        else:
            name = word
    try:
        response = _query(ctx, server, name if name.endswith(".") else name + ".", rdtype, port)
    except (dns.exception.DNSException, OSError):
        return 9, b";; connection timed out; no servers could be reached\n", b""
    if short:
        out = "".join(f"{rdata}\n" for rrset in response.answer for rdata in rrset)
        return 0, out.encode(), b""
    text = (
        f"; <<>> DiG 9.16 <<>> {' '.join(args)}\n;; Got answer:\n{response.to_text()}\n"
        f";; SERVER: {server}#{port}({server})\n"
    )
    return 0, text.encode(), b""


def _cat(ctx: ExecContext, args: list[str]) -> ExecResult:
    out: list[str] = []
    errors: list[str] = []
    for path in args:
        content = ctx.files.get(path)
        if content is None:
            errors.append(f"cat: {path}: No such file or directory\n")
        else:
            out.append(content)
    return (1 if errors else 0), "".join(out).encode(), "".join(errors).encode()


Command = Callable[[ExecContext, list[str]], ExecResult]

COMMANDS: dict[str, Command] = {
    "cat": _cat,
    "hostname": lambda ctx, _args: (0, f"{ctx.pod_name}\n".encode(), b""),
    "env": lambda ctx, _args: (
        0, "".join(f"{k}={v}\n" for k, v in ctx.env.items()).encode(), b""
    ),
    "echo": lambda _ctx, args: (0, (" ".join(args) + "\n").encode(), b""),
    "true": lambda _ctx, _args: (0, b"", b""),
    "nslookup": _nslookup,
    "dig": _dig,
}


def run_command(ctx: ExecContext, command: list[str], stdin: bytes = b"") -> ExecResult:
    """Run one command line in the container; (exit code, stdout, stderr)."""
    if not command:
        return 1, b"", b"no command given\n"
    executable = command[0].rsplit("/", 1)[-1] if command[0].startswith("/") else command[0]
    if executable in ("sh", "bash", "ash") and len(command) >= 3 and command[1] == "-c":
        try:
            inner = shlex.split(command[2])
        except ValueError as err:
            return 2, b"", f"sh: syntax error: {err}\n".encode()
        if not inner:
            return 0, b"", b""
        code, out, err_text = run_command(ctx, inner, stdin)
        if code == 127:  # the shell exists, so it is the shell that reports the missing command
            return 127, b"", f"sh: {inner[0]}: not found\n".encode()
        return code, out, err_text
    handler = COMMANDS.get(executable)
    if handler is None:
        return _not_found(command[0])
    return handler(ctx, command[1:])
