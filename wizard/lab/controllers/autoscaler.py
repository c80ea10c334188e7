"""The kube-dns-autoscaler, as the cluster-proportional-autoscaler (CPA) behaves in linear mode.

It is in the lab because it undoes the switch: every poll it sets its target Deployment's
replicas from the cluster size, so each `kubectl scale deployment kube-dns --replicas=N-1` is
reverted within seconds unless the operator scales the autoscaler to 0 first (it only acts while
it has a ready pod) or retargets it with `--target=Deployment/coredns`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from wizard.lab.api.store import ApiError, Obj
from wizard.lab.controllers.informers import ClusterCache

AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_NAME = "kube-dns-autoscaler"
POLL_SECONDS = 10.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearParams:
    cores_per_replica: float = 0.0
    nodes_per_replica: float = 0.0
    min: int = 0
    max: int = 0
    prevent_single_point_failure: bool = False
    include_unschedulable_nodes: bool = False

    @classmethod
    def parse(cls, text: str) -> LinearParams:
        """Parse CPA's `linear` JSON; raises ValueError like CPA rejects bad params."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("linear params must be a JSON object")
        params = cls(
            cores_per_replica=float(data.get("coresPerReplica", 0)),
            nodes_per_replica=float(data.get("nodesPerReplica", 0)),
            min=int(data.get("min", 0)),
            max=int(data.get("max", 0)),
            prevent_single_point_failure=bool(data.get("preventSinglePointFailure", False)),
            include_unschedulable_nodes=bool(data.get("includeUnschedulableNodes", False)),
        )
        if params.cores_per_replica <= 0 and params.nodes_per_replica <= 0:
            raise ValueError("either coresPerReplica or nodesPerReplica must be set")
        return params


def linear_replicas(params: LinearParams, nodes: int, cores: float) -> int:
    """CPA's linear formula: max(ceil(cores/coresPerReplica), ceil(nodes/nodesPerReplica)),
    at least 2 on a multi-node cluster when preventSinglePointFailure, then clamped to min/max."""
    from_cores = math.ceil(cores / params.cores_per_replica) if params.cores_per_replica > 0 else 0
    from_nodes = math.ceil(nodes / params.nodes_per_replica) if params.nodes_per_replica > 0 else 0
    replicas = max(from_cores, from_nodes)
    if params.prevent_single_point_failure and nodes > 1 and replicas < 2:
        replicas = 2
    if replicas < params.min:
        replicas = params.min
    if params.max > 0 and replicas > params.max:
        replicas = params.max
    return replicas


def parse_cpu(quantity: Any) -> float:
    text = str(quantity or "0").strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return 0.0


BOOL_FLAGS = frozenset({"alsologtostderr", "logtostderr", "version", "add_dir_header", "skip_headers",
                        "skip_log_headers", "one_output"})
"""CPA's boolean flags (its own and glog's): `--flag` alone is true and never takes the next word."""


class FlagError(ValueError):
    """The command line CPA's flag parser (spf13/pflag) would refuse: the container exits."""


def autoscaler_argv(deployment: Obj) -> list[str]:
    """The words after the executable: `command[1:] + args`, or `args` alone when only the image's
    entrypoint (/cluster-proportional-autoscaler) runs them."""
    template_spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = template_spec.get("containers") or []
    container = next((c for c in containers if "autoscaler" in str(c.get("image", ""))),
                     containers[0] if containers else {})
    command = [str(w) for w in container.get("command") or []]
    return command[1:] + [str(w) for w in container.get("args") or []]


def parse_flags(argv: list[str]) -> dict[str, str]:
    """Flags as pflag reads them: `--name=value` and `--name value` (the next word is the value,
    even when it starts with `-`), booleans alone, `-v=2`/`-v 2` for one-letter flags, `--` ends
    the flags; the last occurrence wins. FlagError where pflag stops the program."""
    flags: dict[str, str] = {}
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue  # a positional argument: CPA ignores them
        long = word.startswith("--")
        body = word[2:] if long else word[1:]
        name, has_value, value = body.partition("=")
        if not long and len(name) != 1:
            raise FlagError(f"unknown shorthand flag: {name[0]!r} in {word}")
        if not name or name.startswith("-"):
            raise FlagError(f"bad flag syntax: {word}")
        if not has_value:
            if name in BOOL_FLAGS:
                value = "true"
            elif words:
                value = words.pop(0)
            else:
                raise FlagError(f"flag needs an argument: {word}")
        flags[name] = value
    return flags


def autoscaler_flags(deployment: Obj) -> dict[str, str]:
    """The autoscaler container's flags, in either form (`--target=X` or `--target X`), whether
    they are in `command` or in `args`."""
    return parse_flags(autoscaler_argv(deployment))


class KubeDnsAutoscaler:
    def __init__(self, cache: ClusterCache, speed: float) -> None:
        self.cache = cache
        self.speed = speed
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # how many polls ran: lets tests wait for "it had its chance" without sleeping

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="lab-kube-dns-autoscaler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                self.poll()
            except ApiError as err:
                log.warning("lab kube-dns-autoscaler: %s", err.message)
            except Exception:
                log.exception("lab kube-dns-autoscaler poll failed")
            self.polls += 1
            await asyncio.sleep(POLL_SECONDS / self.speed)

    def poll(self) -> int | None:
        """One CPA poll; returns the replica count it set (None when it did nothing)."""
        deployments = self.cache["deployments.apps"]
        autoscaler = deployments.get(AUTOSCALER_NAMESPACE, AUTOSCALER_NAME)
        if autoscaler is None or int((autoscaler.get("status") or {}).get("readyReplicas", 0) or 0) < 1:
            return None  # not running: nothing polls
        try:
            flags = autoscaler_flags(autoscaler)
        except FlagError as err:  # CPA exits at start: nothing polls
            log.warning("lab kube-dns-autoscaler: %s", err)
            return None
        kind, _, target_name = flags.get("target", "").partition("/")
        if kind.lower() != "deployment" or not target_name:
            return None
        params = self._params(flags)
        if params is None:
            return None
        nodes = [n for n in self.cache["nodes"].all()
                 if params.include_unschedulable_nodes or not (n.get("spec") or {}).get("unschedulable")]
        cores = sum(parse_cpu(((n.get("status") or {}).get("capacity") or {}).get("cpu")) for n in nodes)
        wanted = linear_replicas(params, len(nodes), cores)
        target = deployments.get(AUTOSCALER_NAMESPACE, target_name)
        if target is None:
            return None
        if int((target.get("spec") or {}).get("replicas", 1)) != wanted:
            self.cache.mutate("deployments.apps", AUTOSCALER_NAMESPACE, target_name,
                              lambda obj: obj["spec"].__setitem__("replicas", wanted))
        return wanted

    def _params(self, flags: dict[str, str]) -> LinearParams | None:
        name = flags.get("configmap", AUTOSCALER_NAME)
        configmap = self.cache["configmaps"].get(AUTOSCALER_NAMESPACE, name)
        if configmap is None and "default-params" in flags:
            configmap = self._create_default(name, flags["default-params"])
        if configmap is None:
            return None
        text = (configmap.get("data") or {}).get("linear")
        if text is None:
            return None
        try:
            return LinearParams.parse(text)
        except (ValueError, TypeError) as err:
            log.warning("lab kube-dns-autoscaler: configmap %s/%s key linear: %s",
                        AUTOSCALER_NAMESPACE, name, err)
            return None

    def _create_default(self, name: str, default_params: str) -> Obj | None:
        """CPA creates its ConfigMap from --default-params when it is missing."""
        try:
            data = json.loads(default_params)
            body = {"metadata": {"name": name, "namespace": AUTOSCALER_NAMESPACE},
                    "data": {k: json.dumps(v) for k, v in data.items()}}
            return self.cache.create("configmaps", body)
        except (ValueError, AttributeError, ApiError):
            return None
