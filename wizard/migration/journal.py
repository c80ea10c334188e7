"""State that survives the wizard being killed: a JSON-lines journal per cluster, and backups.

Why: a switch runs for hours; the laptop may sleep, the SSH session may drop. Each change is
written (and fsynced) as an "intent" BEFORE it is sent and as "done"/"failed" AFTER, so a restarted
wizard knows exactly which step was in flight and neither repeats nor skips one. The Deployment
annotations below record the same facts in the cluster itself, for a wizard started elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import hashlib
import json
import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from wizard import __version__
from wizard.errors import InputError
from wizard.i18n import error_text, msg, tr
from wizard.safe_load import load_json, read_bytes

if TYPE_CHECKING:
    from wizard.k8s.gateway import Gateway

log = logging.getLogger(__name__)

# Annotations on the CoreDNS Deployment: the switch's state, kept in the cluster itself.
ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS = "coredns-wizard.io/original-kube-dns-replicas"
ANNOTATION_AUTOSCALER = "coredns-wizard.io/autoscaler"
"""JSON: {"name": ..., "replicas": ..., "target": ...} of the kube-dns autoscaler the wizard paused."""
ANNOTATION_ROUND = "coredns-wizard.io/round"
ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN = "coredns-wizard.io/last-kube-dns-scale-down"
"""RFC3339 time of the last kube-dns scale-down (the observation window starts there)."""
ANNOTATION_PHASE = "coredns-wizard.io/phase"
ANNOTATION_ORDER = "coredns-wizard.io/order"
"""The round order ("grow-first" or "shrink-first") the switch began with: a resumed switch keeps
it, because recomputing it from a half-switched cluster can give the other order."""

ANNOTATION_CONTAINMENT = "coredns-wizard.io/containment"
"""JSON: the last containment of a failed round ({"round", "coredns", "kube_dns", "resume_after",
"state": "in-progress"|"done", "reason", "time"}); "in-progress" means a wizard stopped mid-way and
the next `switch` finishes it before anything else."""

Status = Literal["intent", "done", "failed"]
JOURNAL_FILE = "journal.jsonl"
BACKUP_DIR = "backups"
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
"""A switch writes a few hundred lines; a journal this large is not one the wizard wrote."""


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def operator_identity() -> str:
    """`user@host`, so a journal shows who changed the cluster."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown-host'}"


def cluster_id(server_url: str, kube_system_uid: str) -> str:
    """A stable, file-name-safe id: readable host part plus a hash of server URL and the
    kube-system namespace uid (the uid tells apart two clusters behind the same address)."""
    host = urlparse(server_url).netloc or server_url
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", host).strip("-.")[:60] or "cluster"
    digest = hashlib.sha256(f"{server_url.rstrip('/')}\n{kube_system_uid}".encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


def state_root(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/coredns-wizard, else ~/.local/state/coredns-wizard."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "coredns-wizard"


def private_dir(directory: Path) -> Path:
    """`directory`, created 0700 with any missing parents, refusing a symbolic link in its place:
    journals, backups and logs name the cluster and hold its objects, so nobody else reads them."""
    missing: list[Path] = []
    probe = Path(directory)
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    if Path(directory).is_symlink():
        raise OSError(errno.ELOOP, _symlink_refused())
    return Path(directory)  # an existing directory keeps its mode: it may be the operator's own


def open_private(path: Path, flags: int) -> int:
    """A file descriptor for `path`, created 0600 in a private directory, never through a symbolic
    link (O_NOFOLLOW)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, _symlink_refused()) from None
        raise
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def _symlink_refused() -> str:
    return msg("verify.symlink-refused", "is a symbolic link; the wizard does not follow links for its state")


def cluster_state_dir(
    cluster: str, state_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The per-cluster directory; `state_dir` overrides the XDG location entirely."""
    return Path(state_dir) if state_dir is not None else state_root(environ) / cluster


@dataclass(frozen=True)
class JournalEntry:
    """One line of the journal."""

    status: Status
    step: str  # the plan's step id, e.g. "round-2/scale-coredns"
    action: str  # human text: "scale Deployment kube-system/coredns"
    object: str  # "Deployment kube-system/coredns"
    from_value: Any = None
    to_value: Any = None
    time: str = ""
    version: str = __version__
    operator: str = ""
    dry_run: bool = False
    detail: str | None = None  # the error for "failed", an optional note otherwise

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JournalEntry:
        status = data.get("status")
        if status not in ("intent", "done", "failed"):
            raise ValueError(msg("verify.journal-unknown-status", "unknown status {status}",
                status=repr(status)))
        return cls(
            status=status,
            step=str(data["step"]),
            action=str(data.get("action", "")),
            object=str(data.get("object", "")),
            from_value=data.get("from_value"),
            to_value=data.get("to_value"),
            time=str(data.get("time", "")),
            version=str(data.get("version", "")),
            operator=str(data.get("operator", "")),
            dry_run=bool(data.get("dry_run", False)),
            detail=None if data.get("detail") is None else str(data.get("detail")),
        )


@dataclass(frozen=True)
class ResumePoint:
    """Where a restarted wizard goes on: `step`, and whether it was in flight when the wizard
    stopped (then its effect is unknown: check the cluster before doing it again)."""

    step: str | None
    in_flight: bool
    reason: str


@dataclass
class JournalState:
    """What the journal says happened, reconstructed line by line."""

    entries: list[JournalEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    done_steps: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    in_flight: JournalEntry | None = None
    values: dict[str, Any] = field(default_factory=dict)
    """object -> the value its last completed change set (e.g. replica counts)."""

    @property
    def last(self) -> JournalEntry | None:
        return self.entries[-1] if self.entries else None

    def next_step(self, plan: Sequence[str]) -> ResumePoint:
        """The first plan step not done yet; an in-flight step comes first, flagged."""
        if self.in_flight is not None:
            return ResumePoint(
                self.in_flight.step, True,
                msg(
                    "verify.resume-in-flight",
                    "step {step} ({action}) was started at {time} but never finished: check the cluster "
                    "before repeating it",
                    step=self.in_flight.step, action=self.in_flight.action, time=self.in_flight.time,
                ),
            )
        done = set(self.done_steps)
        for step in plan:
            if step not in done:
                failed = step in self.failed_steps
                why = (
                    msg("verify.resume-failed-last-time", "step {step}: failed last time",
                        step=step) if failed
                    else msg("verify.resume-not-done", "step {step}: not done yet", step=step)
                )
                return ResumePoint(step, False, why)
        return ResumePoint(None, False, msg("verify.resume-all-done", "every step of the plan is done"))


class Journal:
    """Append-only JSON-lines journal with fsync, tolerant of a torn last line."""

    def __init__(self, path: Path, operator: str | None = None, dry_run: bool = False) -> None:
        self.path = Path(path)
        self.operator = operator or operator_identity()
        self.dry_run = dry_run

    @classmethod
    def for_cluster(
        cls,
        cluster: str,
        state_dir: Path | None = None,
        dry_run: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> Journal:
        """The journal of one cluster (see `cluster_id`)."""
        return cls(cluster_state_dir(cluster, state_dir, environ) / JOURNAL_FILE, dry_run=dry_run)

    @property
    def state_dir(self) -> Path:
        return self.path.parent

    # ---- writing ------------------------------------------------------------------------
    def intent(
        self, step: str, action: str, obj: str, from_value: Any = None, to_value: Any = None
    ) -> JournalEntry:
        """Record a change about to be sent. Call BEFORE the request."""
        return self._append("intent", step, action, obj, from_value, to_value, None)

    def done(
        self, step: str, action: str, obj: str, from_value: Any = None, to_value: Any = None,
        detail: str | None = None,
    ) -> JournalEntry:
        """Record a change the API server accepted."""
        return self._append("done", step, action, obj, from_value, to_value, detail)

    def failed(
        self, step: str, action: str, obj: str, error: str, from_value: Any = None, to_value: Any = None
    ) -> JournalEntry:
        """Record a change that failed; `error` is the message shown to the operator."""
        return self._append("failed", step, action, obj, from_value, to_value, error)

    @contextlib.contextmanager
    def record(
        self, step: str, action: str, obj: str, from_value: Any = None, to_value: Any = None
    ) -> Iterator[None]:
        """`with journal.record(...): gateway.scale_deployment(...)`: intent before, done or
        failed after (the exception propagates)."""
        self.intent(step, action, obj, from_value, to_value)
        try:
            yield
        except Exception as err:  # an interrupt leaves the intent open: its effect is unknown
            self.failed(step, action, obj, str(err) or type(err).__name__, from_value, to_value)
            raise
        self.done(step, action, obj, from_value, to_value)

    def _append(
        self, status: Status, step: str, action: str, obj: str, from_value: Any, to_value: Any,
        detail: str | None,
    ) -> JournalEntry:
        # the journal is read back by code and by wizards in other languages: engine messages
        # passed in (step titles, results, errors) are written in English
        entry = JournalEntry(
            status, step, tr(action, "en"), tr(obj, "en"), _english(from_value), _english(to_value),
            now_rfc3339(), __version__, self.operator, self.dry_run,
            None if detail is None else tr(detail, "en"),
        )
        line = entry.to_json() + "\n"
        try:
            created = not self.path.exists()
            with os.fdopen(open_private(self.path, os.O_RDWR | os.O_APPEND), "ab") as out:
                if _ends_without_newline(out.fileno()):
                    out.write(b"\n")  # seal a torn line so this entry stays readable
                out.write(line.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            if created:
                _fsync_dir(self.path.parent)
        except OSError as err:
            raise InputError(msg(
                "verify.journal-cannot-write",
                "journal {path}: cannot write ({error}); free disk space or fix "
                "permissions, or pass another state directory",
                path=str(self.path), error=err.strerror or str(err),
            )) from None
        return entry

    # ---- reading ------------------------------------------------------------------------
    def read(self) -> JournalState:
        """Reconstruct the state. A torn or corrupt line is skipped with a warning, never fatal."""
        state = JournalState()
        if not self.path.exists() and not self.path.is_symlink():
            return state
        raw = read_bytes(self.path, "journal", MAX_JOURNAL_BYTES, follow_symlinks=False)
        lines = raw.split(b"\n")
        torn_tail = bool(lines and lines[-1])
        if not torn_tail:
            lines = lines[:-1]
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = JournalEntry.from_dict(load_json(line, f"line {number}"))
            except (InputError, ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
                last = number == len(lines)
                what = (
                    msg("verify.journal-torn-line", "torn last line {number} (the wizard stopped mid-write)",
                        number=number) if last
                    else msg("verify.journal-corrupt-line", "corrupt line {number}", number=number)
                )
                message = msg("verify.journal-ignored-line", "journal {path}: ignored {what}: {error}",
                              path=str(self.path), what=what, error=error_text(err))
                log.warning("%s", tr(message, "en"))
                state.warnings.append(message)
                continue
            _apply(state, entry)
        return state


def _apply(state: JournalState, entry: JournalEntry) -> None:
    state.entries.append(entry)
    if entry.status == "intent":
        state.in_flight = entry
        return
    if state.in_flight is not None and state.in_flight.step == entry.step:
        state.in_flight = None
    if entry.status == "done":
        if entry.step not in state.done_steps:
            state.done_steps.append(entry.step)
        if entry.step in state.failed_steps:
            state.failed_steps.remove(entry.step)
        if not entry.dry_run:
            state.values[entry.object] = entry.to_value
    elif entry.step not in state.failed_steps and entry.step not in state.done_steps:
        state.failed_steps.append(entry.step)


def _english(value: Any) -> Any:
    """`value` with every Message in it (also inside lists and dicts) rendered in English."""
    if isinstance(value, str):
        return tr(value, "en")
    if isinstance(value, (list, tuple)):
        return [_english(v) for v in value] if isinstance(value, list) else tuple(_english(v) for v in value)
    if isinstance(value, dict):
        return {k: _english(v) for k, v in value.items()}
    return value



def _ends_without_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def journal_for(
    gateway: Gateway, state_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Journal:
    """The journal of the cluster `gateway` talks to: its id comes from the server URL and the
    kube-system namespace uid; entries are marked dry-run when the gateway is."""
    namespace = gateway.get_namespace("kube-system")
    uid = str((namespace.get("metadata") or {}).get("uid") or "")
    return Journal.for_cluster(
        cluster_id(gateway.connection.server, uid), state_dir, dry_run=gateway.dry_run, environ=environ
    )


def save_backup(obj: Mapping[str, Any], state_dir: Path) -> Path:
    """Write an object's YAML to <state_dir>/backups/ BEFORE deleting it, so it can be re-created
    (`kubectl apply -f` after removing uid/resourceVersion). Returns the file written."""
    import yaml

    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind") or "Object")
    name = str(meta.get("name") or "unnamed")
    namespace = str(meta.get("namespace") or "cluster")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{kind}-{namespace}-{name}")
    target = Path(state_dir) / BACKUP_DIR / f"{stamp}-{safe}.yaml"
    clean = json.loads(json.dumps(obj, default=str))  # plain types only
    (clean.get("metadata") or {}).pop("managedFields", None)
    text = yaml.safe_dump(clean, sort_keys=False, default_flow_style=False)
    try:
        fd = open_private(target, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    except OSError as err:
        raise InputError(
            msg(
                "verify.backup-cannot-write",
                "backup {path}: cannot write ({error}); the object was NOT deleted: free "
                "disk space or pass another state directory",
                path=str(target), error=err.strerror or str(err),
            )
        ) from None
    return target
